import type pg from 'pg';

export const PATIENTS = 10_000;

/** LOINC codes the generated Observations cycle through. */
export const BENCH_CODES: Array<[string, string]> = [
  ['8480-6', 'Systolic blood pressure'],
  ['8462-4', 'Diastolic blood pressure'],
  ['8867-4', 'Heart rate'],
  ['9279-1', 'Respiratory rate'],
  ['8310-5', 'Body temperature'],
  ['29463-7', 'Body weight'],
  ['8302-2', 'Body height'],
  ['39156-5', 'Body mass index'],
  ['2708-6', 'Oxygen saturation'],
  ['2339-0', 'Glucose'],
  ['2093-3', 'Cholesterol'],
  ['2571-8', 'Triglyceride'],
  ['18262-6', 'LDL cholesterol'],
  ['2085-9', 'HDL cholesterol'],
  ['4548-4', 'Hemoglobin A1c'],
  ['718-7', 'Hemoglobin'],
  ['6690-2', 'Leukocytes'],
  ['777-3', 'Platelets'],
  ['2160-0', 'Creatinine'],
  ['3094-0', 'Urea nitrogen'],
];

const LAST_UPDATED = '2024-06-01T00:00:00.000Z';

/**
 * Patients pat-0 .. pat-9999 (family name `familyK`), with the same rows the
 * server writes: version, current and index rows.
 */
export async function insertPatients(pool: pg.Pool): Promise<void> {
  await pool.query(`
    WITH src AS (
      SELECT k, 'pat-' || k AS id, jsonb_build_object(
        'resourceType', 'Patient', 'id', 'pat-' || k,
        'meta', jsonb_build_object('versionId', '1', 'lastUpdated', '${LAST_UPDATED}'),
        'name', jsonb_build_array(jsonb_build_object('family', 'Family' || k, 'given', jsonb_build_array('Given' || k))),
        'gender', CASE WHEN k % 2 = 0 THEN 'female' ELSE 'male' END,
        'birthDate', to_char(date '1940-01-01' + (k * 3), 'YYYY-MM-DD'),
        'identifier', jsonb_build_array(jsonb_build_object('system', 'urn:mrn', 'value', k::text))
      ) AS content
      FROM generate_series(0, ${PATIENTS - 1}) AS k
    ), v AS (
      INSERT INTO resource_version (resource_type, id, version_id, last_updated, method, content)
      SELECT 'Patient', id, 1, '${LAST_UPDATED}', 'PUT', content FROM src
    ), c AS (
      INSERT INTO resource_current (resource_type, id, version_id, last_updated, deleted, content)
      SELECT 'Patient', id, 1, '${LAST_UPDATED}', false, content FROM src
    ), t AS (
      INSERT INTO token_index (resource_type, id, param, system, code)
      SELECT 'Patient', id, p, s, c FROM src, LATERAL (VALUES
        ('deceased', NULL, 'false'), ('gender', NULL, content->>'gender'), ('identifier', 'urn:mrn', k::text)) AS x(p, s, c)
    ), s AS (
      INSERT INTO string_index (resource_type, id, param, value, norm)
      SELECT 'Patient', id, p, v, lower(v) FROM src, LATERAL (VALUES
        ('family', 'Family' || k), ('given', 'Given' || k), ('name', 'Family' || k), ('name', 'Given' || k),
        ('phonetic', 'Family' || k), ('phonetic', 'Given' || k)) AS x(p, v)
    )
    INSERT INTO date_index (resource_type, id, param, low, high)
    SELECT 'Patient', id, 'birthdate', (content->>'birthDate')::date::timestamp AT TIME ZONE 'UTC',
           ((content->>'birthDate')::date + 1)::timestamp AT TIME ZONE 'UTC' FROM src`);
}

/**
 * Observations obs-from .. obs-(to-1), one per 137 s since 2020, arriving in groups of
 * 10 per patient (an encounter's worth, as EHR feeds deliver them): observation i
 * belongs to patient (i / 10) % 10,000 and the code cycles within each group.
 */
export async function insertObservations(pool: pg.Pool, from: number, to: number): Promise<void> {
  const codes = BENCH_CODES.map(([c]) => c);
  const displays = BENCH_CODES.map(([, d]) => d);
  const chunk = 50_000;
  for (let start = from; start < to; start += chunk) {
    const end = Math.min(start + chunk, to);
    await pool.query(
      `WITH src AS (
        SELECT i, 'obs-' || i AS id, 'pat-' || ((i / 10) % ${PATIENTS}) AS patient,
               $1::text[] AS codes, $2::text[] AS displays,
               1 + (i + i / ${PATIENTS * 10}) % ${codes.length} AS ci,
               timestamptz '2020-01-01T00:00:00Z' + i * interval '137 seconds' AS effective,
               60 + i % 140 AS value
        FROM generate_series($3::int, $4::int - 1) AS i
      ), obs AS (
        SELECT *, jsonb_build_object(
          'resourceType', 'Observation', 'id', id,
          'meta', jsonb_build_object('versionId', '1', 'lastUpdated', '${LAST_UPDATED}'),
          'status', 'final',
          'category', jsonb_build_array(jsonb_build_object('coding', jsonb_build_array(jsonb_build_object(
            'system', 'http://terminology.hl7.org/CodeSystem/observation-category', 'code', 'vital-signs')))),
          'code', jsonb_build_object('coding', jsonb_build_array(jsonb_build_object(
            'system', 'http://loinc.org', 'code', codes[ci], 'display', displays[ci]))),
          'subject', jsonb_build_object('reference', 'Patient/' || patient),
          'effectiveDateTime', to_char(effective AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
          'valueQuantity', jsonb_build_object('value', value, 'unit', 'mmHg', 'system', 'http://unitsofmeasure.org', 'code', 'mm[Hg]')
        ) AS content FROM src
      ), v AS (
        INSERT INTO resource_version (resource_type, id, version_id, last_updated, method, content)
        SELECT 'Observation', id, 1, '${LAST_UPDATED}', 'POST', content FROM obs
      ), c AS (
        INSERT INTO resource_current (resource_type, id, version_id, last_updated, deleted, content)
        SELECT 'Observation', id, 1, '${LAST_UPDATED}', false, content FROM obs
      ), t AS (
        INSERT INTO token_index (resource_type, id, param, system, code)
        SELECT 'Observation', id, p, s, c FROM obs, LATERAL (VALUES
          ('code', 'http://loinc.org', codes[ci]), ('combo-code', 'http://loinc.org', codes[ci]),
          ('category', 'http://terminology.hl7.org/CodeSystem/observation-category', 'vital-signs'),
          ('status', NULL, 'final')) AS x(p, s, c)
      ), s AS (
        INSERT INTO string_index (resource_type, id, param, value, norm)
        SELECT 'Observation', id, p, displays[ci], lower(displays[ci]) FROM obs,
          LATERAL (VALUES ('code:text'), ('combo-code:text')) AS x(p)
      ), d AS (
        INSERT INTO date_index (resource_type, id, param, low, high)
        SELECT 'Observation', id, 'date', effective, effective + interval '1 second' FROM obs
      ), q AS (
        INSERT INTO quantity_index (resource_type, id, param, system, code, value)
        SELECT 'Observation', id, p, s, c, value FROM obs, LATERAL (VALUES
          ('value-quantity', 'http://unitsofmeasure.org', 'mm[Hg]'), ('value-quantity', NULL, 'mmHg'),
          ('combo-value-quantity', 'http://unitsofmeasure.org', 'mm[Hg]'), ('combo-value-quantity', NULL, 'mmHg')) AS x(p, s, c)
      )
      INSERT INTO reference_index (resource_type, id, param, target_type, target_id, url)
      SELECT 'Observation', id, p, 'Patient', patient, NULL FROM obs, LATERAL (VALUES ('patient'), ('subject')) AS x(p)`,
      [codes, displays, start, end],
    );
  }
}
