/**
 * Covering search indexes: a probe answers from the index alone (index-only scan) instead of
 * fetching each index row's table row. A patient's Observations are found by id from
 * reference_index_value, and then each condition on them (code, date...) is checked against
 * the by-resource index: with the values included there, a search over a patient with
 * hundreds of Observations reads a few index pages instead of hundreds of table pages.
 */
export const sql = `
DROP INDEX token_index_value;
CREATE INDEX token_index_value ON token_index (resource_type, param, code, system) INCLUDE (id);
DROP INDEX token_index_resource;
CREATE INDEX token_index_resource ON token_index (resource_type, id, param) INCLUDE (code, system);

DROP INDEX date_index_value;
CREATE INDEX date_index_value ON date_index (resource_type, param, low, high) INCLUDE (id);
DROP INDEX date_index_resource;
CREATE INDEX date_index_resource ON date_index (resource_type, id, param) INCLUDE (low, high);

DROP INDEX reference_index_value;
CREATE INDEX reference_index_value ON reference_index (resource_type, param, target_id, target_type) INCLUDE (id);
DROP INDEX reference_index_resource;
CREATE INDEX reference_index_resource ON reference_index (resource_type, id, param) INCLUDE (target_type, target_id);

DROP INDEX string_index_value;
CREATE INDEX string_index_value ON string_index (resource_type, param, norm text_pattern_ops) INCLUDE (id);
`;
