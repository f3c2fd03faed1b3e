/**
 * The reverse-reference index leads with the target and then names the referring type and
 * parameter. Keyed on the target alone, a patient referenced by thousands of AuditEvents (one
 * per access) made `Observation?subject=Patient/X` read every one of those rows whenever the
 * planner chose this index (fresh or stale statistics): seen at 40,000 rows filtered for 3
 * results. With the type and parameter in the key, the same scan reads only the matching rows;
 * `_revinclude=*` (any type) still finds everything that points at a target.
 */
export const sql = `
DROP INDEX reference_index_target;
CREATE INDEX reference_index_target ON reference_index (target_type, target_id, resource_type, param) INCLUDE (id);
`;
