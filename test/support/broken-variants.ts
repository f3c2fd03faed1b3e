/**
 * Systematically broken copies of a FHIR resource, for comparing validators: each
 * variant breaks one rule at one place picked by a seeded generator, so runs repeat.
 */
type Json = Record<string, unknown>;
type Key = string | number;

export interface Variant {
  title: string;
  resource: Json;
}

interface Place {
  path: Key[];
  value: unknown;
}

const DATE = /^\d{4}-\d{2}-\d{2}/;
const CODE = /^[a-z][a-z-]*$/;
const URI = /^(https?:|urn:)/;
const CHOICE = /^([a-z]+)[A-Z]/;

const contained = (...resources: Json[]) => resources;
const organization = { resourceType: 'Organization', id: 'c1', name: 'x' };
const extension = (e: Json) => [e];

/** One change at a place: returns the new value, or `remove` to delete the property. */
type Change = (value: unknown, parent: Json | unknown[], root: Json) => unknown;
const remove = Symbol('remove');

/** [title, which places it applies to, change] */
const atPlaces: [string, (p: Place) => boolean, Change][] = [
  ['element removed', (p) => typeof p.path.at(-1) === 'string', () => remove],
  ['string as a number', (p) => typeof p.value === 'string', () => 42],
  ['number as a string', (p) => typeof p.value === 'number', (v) => String(v)],
  ['boolean as a string', (p) => typeof p.value === 'boolean', (v) => String(v)],
  ['object as a string', (p) => isObject(p.value), () => 'x'],
  ['array as its first item', (p) => Array.isArray(p.value), (v) => (v as unknown[])[0]],
  ['single value as an array', (p) => !Array.isArray(p.value) && p.path.length > 0, (v) => [v]],
  ['unknown property', (p) => isObject(p.value), (v) => ({ ...(v as Json), colour: 'red' })],
  ['empty string', (p) => typeof p.value === 'string', () => ''],
  ['whitespace string', (p) => typeof p.value === 'string', () => '   '],
  ['empty array', (p) => Array.isArray(p.value), () => []],
  ['empty object', (p) => isObject(p.value), () => ({})],
  ['null value', (p) => p.path.length > 0, () => null],
  ['null array item', (p) => Array.isArray(p.value), (v) => [...(v as unknown[]), null]],
  ['undefined property (built in code)', (p) => typeof p.path.at(-1) === 'string', () => undefined],
  ['impossible date', (p) => isDate(p.value), (v) => `2023-02-29${(v as string).slice(10)}`],
  ['month 13', (p) => isDate(p.value), (v) => `2023-13-01${(v as string).slice(10)}`],
  ['date in US format', (p) => isDate(p.value), () => '02/01/2020'],
  ['year 0000', (p) => isDate(p.value), (v) => `0000${(v as string).slice(4)}`],
  ['time without a zone', (p) => isDate(p.value), (v) => `${(v as string).slice(0, 10)}T10:00:00`],
  ['time at hour 24', (p) => isDate(p.value), (v) => `${(v as string).slice(0, 10)}T24:00:00Z`],
  ['time without seconds', (p) => isDate(p.value), (v) => `${(v as string).slice(0, 10)}T10:00Z`],
  [
    'space before the time',
    (p) => isDate(p.value),
    (v) => `${(v as string).slice(0, 10)} 10:00:00Z`,
  ],
  ['date only', (p) => isDate(p.value), (v) => (v as string).slice(0, 10)],
  ['unknown code', (p) => isCode(p.value), () => 'bogus-code'],
  ['code with a double space', (p) => isCode(p.value), (v) => `${v}  x`],
  ['uri with a space', (p) => isUri(p.value), (v) => `${v} x`],
  ['fraction', (p) => Number.isInteger(p.value), () => 1.5],
  ['beyond 32 bits', (p) => Number.isInteger(p.value), () => 2147483648],
  ['negative', (p) => Number.isInteger(p.value), () => -1],
  ['zero', (p) => Number.isInteger(p.value), () => 0],
  ['control character', (p) => typeof p.value === 'string', (v) => `${v}\u0001`],
  [
    'second type for a choice element',
    (p) => isObject(p.value) && Object.keys(p.value).some((k) => CHOICE.test(k)),
    (v) => withChoice(v as Json, (prefix, json) => ({ ...json, [`${prefix}Boolean`]: true })),
  ],
  [
    'choice element of an unknown type',
    (p) => isObject(p.value) && Object.keys(p.value).some((k) => CHOICE.test(k)),
    (v) => withChoice(v as Json, (prefix, json) => ({ ...json, [`${prefix}Colour`]: 'red' })),
  ],
  [
    'choice value that is undefined (built in code)',
    (p) => isObject(p.value) && Object.keys(p.value).some((k) => CHOICE.test(k)),
    (v) => withChoice(v as Json, (prefix, json) => ({ ...json, [`${prefix}String`]: undefined })),
  ],
  [
    'reference to another type',
    (p) => isReference(p.value),
    (v) => ({ ...(v as Json), reference: 'Claim/1' }),
  ],
  [
    'contained reference',
    (p) => isReference(p.value),
    (v) => ({ ...(v as Json), reference: '#c1' }),
  ],
  [
    'conditional reference',
    (p) => isReference(p.value),
    (v) => ({ ...(v as Json), reference: 'Patient?name=x' }),
  ],
  [
    'absolute reference',
    (p) => isReference(p.value),
    (v) => ({ ...(v as Json), reference: 'http://x.org/fhir/Patient/1' }),
  ],
  [
    'urn:uuid reference',
    (p) => isReference(p.value),
    (v) => ({ ...(v as Json), reference: 'urn:uuid:6d705d81-8546-43b2-b336-31a282128f2d' }),
  ],
  [
    'reference of a bare slash',
    (p) => isReference(p.value),
    (v) => ({ ...(v as Json), reference: '/1' }),
  ],
];

/** Changes at the root, each given the resource and returning the broken copy. */
const atRoot: [string, (r: Json) => Json][] = [
  ['unknown property at the root', (r) => ({ ...r, nickname: 'x' })],
  ['resourceType missing', ({ resourceType: _, ...r }) => r],
  ['unknown resourceType', (r) => ({ ...r, resourceType: 'Unicorn' })],
  ['abstract resourceType', (r) => ({ ...r, resourceType: 'DomainResource' })],
  ['id with an underscore', (r) => ({ ...r, id: 'bad_id' })],
  ['id of 65 characters', (r) => ({ ...r, id: 'p'.repeat(65) })],
  ['id as a number', (r) => ({ ...r, id: 7 })],
  [
    'narrative outside the XHTML namespace',
    (r) => ({ ...r, text: { status: 'generated', div: '<div>x</div>' } }),
  ],
  ['narrative that is not a div', (r) => ({ ...r, text: { status: 'generated', div: 'x' } })],
  [
    'narrative with an unknown status',
    (r) => ({
      ...r,
      text: { status: 'weird', div: '<div xmlns="http://www.w3.org/1999/xhtml">x</div>' },
    }),
  ],
  ['narrative without div', (r) => ({ ...r, text: { status: 'generated' } })],
  [
    'valid narrative',
    (r) => ({
      ...r,
      text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">x</div>' },
    }),
  ],
  ['valid contained resource', (r) => ({ ...r, contained: contained(organization) })],
  [
    'invalid contained resource',
    (r) => ({
      ...r,
      contained: contained({
        resourceType: 'Observation',
        id: 'o1',
        status: 'bogus',
        code: { text: 'x' },
      }),
    }),
  ],
  [
    'contained resource inside a contained resource',
    (r) => ({
      ...r,
      contained: contained({
        resourceType: 'Group',
        id: 'g',
        type: 'person',
        actual: true,
        contained: contained(organization),
      }),
    }),
  ],
  [
    'contained resource with a version',
    (r) => ({ ...r, contained: contained({ ...organization, meta: { versionId: '1' } }) }),
  ],
  [
    'contained resource of an unknown type',
    (r) => ({ ...r, contained: contained({ resourceType: 'Unicorn', id: 'u' }) }),
  ],
  ['contained object without a type', (r) => ({ ...r, contained: contained({ id: 'u' }) })],
  [
    'contained resource with a bad id',
    (r) => ({ ...r, contained: contained({ ...organization, id: 'c_1' }) }),
  ],
  ['valid extension', (r) => ({ ...r, extension: extension({ url: 'urn:x', valueString: 'a' }) })],
  ['extension without url', (r) => ({ ...r, extension: extension({ valueString: 'a' }) })],
  [
    'extension with neither value nor extensions',
    (r) => ({ ...r, extension: extension({ url: 'urn:x' }) }),
  ],
  [
    'extension with a value and extensions',
    (r) => ({
      ...r,
      extension: extension({
        url: 'urn:x',
        valueString: 'a',
        extension: extension({ url: 'urn:y', valueBoolean: true }),
      }),
    }),
  ],
  [
    'extension with two values',
    (r) => ({ ...r, extension: extension({ url: 'urn:x', valueString: 'a', valueBoolean: true }) }),
  ],
  [
    'extension with a bad value',
    (r) => ({ ...r, extension: extension({ url: 'urn:x', valueDate: '2023-02-29' }) }),
  ],
  [
    'extension with a reference value',
    (r) => ({
      ...r,
      extension: extension({ url: 'urn:x', valueReference: { reference: 'Claim/1' } }),
    }),
  ],
  [
    'modifier extension',
    (r) => ({ ...r, modifierExtension: extension({ url: 'urn:x', valueCode: 'a' }) }),
  ],
  ['in a collection Bundle', (r) => bundle(r)],
  ['in a Bundle in a Bundle', (r) => bundle(bundle(r))],
  ['broken, in a Bundle', (r) => bundle({ ...r, nickname: 'x' })],
  [
    'with a reference to another type, in a Bundle',
    (r) =>
      bundle({
        ...r,
        extension: extension({ url: 'urn:x', valueReference: { reference: 'Claim/1' } }),
      }),
  ],
];

/** Every variant of a resource: each change at the root, and each place change at `perChange` places. */
export function brokenVariants(resource: Json, seed: number, perChange = 2): Variant[] {
  const random = mulberry32(seed);
  const places = placesOf(resource);
  const variants: Variant[] = atRoot.map(([title, change]) => ({
    title,
    resource: change(structuredClone(resource)),
  }));
  for (const [title, applies, change] of atPlaces) {
    const candidates = places.filter(applies);
    for (let n = 0; n < perChange && candidates.length > 0; n++) {
      const place = candidates[Math.floor(random() * candidates.length)]!;
      const at = place.path.map(String).join('.');
      const copy = changeAt(structuredClone(resource), place.path, change);
      variants.push({ title: `${title} at ${at}`, resource: copy });
    }
  }
  const primitives = places.filter(
    (p) => typeof p.value === 'string' && typeof p.path.at(-1) === 'string',
  );
  for (let n = 0; n < perChange && primitives.length > 0; n++) {
    const place = primitives[Math.floor(random() * primitives.length)]!;
    variants.push(...primitiveExtensions(resource, place.path));
  }
  return variants;
}

/** `_key` siblings of a string: with extensions, with an unknown element, alone, for arrays. */
function primitiveExtensions(resource: Json, path: Key[]): Variant[] {
  const key = path.at(-1) as string;
  const at = path.join('.');
  const parentPath = path.slice(0, -1);
  const ext = { extension: extension({ url: 'urn:x', valueString: 'a' }) };
  const withSibling = (sibling: unknown, keep = true): Json => {
    const copy = structuredClone(resource);
    const parent = navigate(copy, parentPath) as Json;
    if (!keep) delete parent[key];
    parent[`_${key}`] = sibling;
    return copy;
  };
  return [
    { title: `primitive extension at ${at}`, resource: withSibling(ext) },
    {
      title: `primitive extension with an unknown element at ${at}`,
      resource: withSibling({ colour: 'red' }),
    },
    { title: `primitive extension without a value at ${at}`, resource: withSibling(ext, false) },
    { title: `primitive extension as an array at ${at}`, resource: withSibling([null, ext]) },
  ];
}

function bundle(resource: Json): Json {
  return {
    resourceType: 'Bundle',
    type: 'collection',
    entry: [{ fullUrl: 'urn:uuid:6d705d81-8546-43b2-b336-31a282128f2e', resource }],
  };
}

function withChoice(value: Json, change: (prefix: string, json: Json) => Json): Json {
  const key = Object.keys(value).find((k) => CHOICE.test(k))!;
  return change(CHOICE.exec(key)![1]!, value);
}

function placesOf(value: unknown, path: Key[] = [], into: Place[] = []): Place[] {
  into.push({ path, value });
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) placesOf(value[i], [...path, i], into);
  } else if (isObject(value)) {
    for (const [k, v] of Object.entries(value))
      if (k !== 'resourceType') placesOf(v, [...path, k], into);
  }
  return into;
}

function navigate(root: unknown, path: Key[]): unknown {
  return path.reduce<unknown>((v, k) => (v as Record<Key, unknown>)[k], root);
}

function changeAt(root: Json, path: Key[], change: Change): Json {
  if (path.length === 0) return change(root, root, root) as Json;
  const parent = navigate(root, path.slice(0, -1)) as Record<Key, unknown>;
  const key = path.at(-1)!;
  const next = change(parent[key], parent as Json, root);
  if (next === remove) {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key];
  } else parent[key] = next;
  return root;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
const isDate = (v: unknown) => typeof v === 'string' && DATE.test(v);
const isCode = (v: unknown) => typeof v === 'string' && CODE.test(v) && v.length < 30;
const isUri = (v: unknown) => typeof v === 'string' && URI.test(v);
const isReference = (v: unknown) => isObject(v) && typeof v.reference === 'string';

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
