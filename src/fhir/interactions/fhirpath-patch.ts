import {
  type Atom,
  DotAtom,
  evalFhirPathTyped,
  FhirPathAtom,
  getElementDefinition,
  IndexerAtom,
  parseFhirPath,
  SymbolAtom,
  type TypedValue,
  toTypedValue,
} from '@medplum/core';
import type { ParametersParameter } from 'fhir/r4.js';
import { badRequest, FhirError, issue, unprocessable } from '../errors.js';
import type { PatchDocument } from './patch.js';

/**
 * FHIRPath Patch (http://hl7.org/fhir/R4/fhirpatch.html): a Parameters resource whose
 * `operation` parameters add, insert, delete, replace or move content at FHIRPath locations,
 * evaluated with @medplum/core. A location is an element named by the path's last step
 * (`Patient.birthDate`, `Patient.name[0].given[1]`: its parent is evaluated, then the name
 * and index applied), or an element a function selects (`Patient.name.where(use='old')`),
 * which must then be complex (primitives are not found by value).
 */
export function fhirPathPatch(body: unknown): PatchDocument {
  const operations = parseOperations(body);
  return {
    apply(resource) {
      const doc = structuredClone(resource) as unknown as Json;
      operations.forEach((op, n) => {
        try {
          applyOperation(doc, op);
        } catch (err) {
          if (err instanceof FhirError) throw err;
          throw failed(n, err instanceof Error ? err.message : String(err));
        }
      });
      prune(doc);
      return doc;
    },
  };
}

type Json = Record<string, unknown>;
type OperationType = 'add' | 'insert' | 'delete' | 'replace' | 'move';
interface Operation {
  n: number;
  type: OperationType;
  path: Atom;
  name?: string;
  value?: unknown;
  index?: number;
  source?: number;
  destination?: number;
}
/** An element in the document: `parent[key]`, or `parent[key][index]` in a list. */
interface Location {
  parent: Json;
  key: string;
  index?: number;
}

const ELEMENT_NAME = /^[a-z][A-Za-z0-9]*$/;
const TYPES = new Set<OperationType>(['add', 'insert', 'delete', 'replace', 'move']);
/** What each type needs besides `type` and `path`. */
const NEEDS: Record<OperationType, Array<'name' | 'value' | 'index' | 'source' | 'destination'>> = {
  add: ['name', 'value'],
  insert: ['value', 'index'],
  delete: [],
  replace: ['value'],
  move: ['source', 'destination'],
};

function parseOperations(body: unknown): Operation[] {
  const params = body as { resourceType?: unknown; parameter?: unknown } | null;
  if (params === null || typeof params !== 'object' || params.resourceType !== 'Parameters') {
    throw badRequest('A FHIRPath Patch is a Parameters resource');
  }
  if (!Array.isArray(params.parameter) || params.parameter.length === 0) {
    throw badRequest('The FHIRPath Patch has no operations', 'Parameters.parameter');
  }
  return (params.parameter as ParametersParameter[]).map((parameter, n) => {
    const where = `Parameters.parameter[${n}]`;
    if (parameter?.name !== 'operation' || !Array.isArray(parameter.part)) {
      throw badRequest(`Each parameter of a FHIRPath Patch is an "operation" with parts`, where);
    }
    const part = (name: string) => parameter.part!.find((p) => p?.name === name);
    const type = part('type')?.valueCode as OperationType | undefined;
    if (!type || !TYPES.has(type)) {
      throw badRequest('Operation type must be add, insert, delete, replace or move', where);
    }
    const pathText = part('path')?.valueString;
    if (!pathText) throw badRequest('Operation has no path', where);
    let path: Atom;
    try {
      path = parseFhirPath(pathText).child;
    } catch (err) {
      throw badRequest(`Operation path "${pathText}" is not FHIRPath: ${String(err)}`, where);
    }
    const op: Operation = { n, type, path };
    for (const need of NEEDS[type]) {
      const given = part(need);
      if (!given) throw badRequest(`A ${type} operation needs a ${need}`, where);
      if (need === 'name') {
        if (!given.valueString || !ELEMENT_NAME.test(given.valueString)) {
          throw badRequest('Operation name must be an element name', where);
        }
        op.name = given.valueString;
      } else if (need === 'value') {
        op.value = partValue(given);
        if (op.value === undefined) throw badRequest('Operation value is empty', where);
      } else {
        if (!Number.isInteger(given.valueInteger) || given.valueInteger! < 0) {
          throw badRequest(`Operation ${need} must be a non-negative integer`, where);
        }
        op[need] = given.valueInteger!;
      }
    }
    return op;
  });
}

/** The JSON of a value part: its `value[x]`, or an object built from its parts (a backbone element). */
function partValue(part: ParametersParameter): unknown {
  for (const [key, value] of Object.entries(part)) {
    if (/^value[A-Z]/.test(key)) return structuredClone(value);
  }
  if (!Array.isArray(part.part) || part.part.length === 0) return undefined;
  const out = new Map<string, unknown[]>();
  for (const p of part.part) {
    if (typeof p?.name !== 'string' || !ELEMENT_NAME.test(p.name)) {
      throw badRequest(`A value part is named "${String(p?.name)}", not an element name`);
    }
    out.set(p.name, [...(out.get(p.name) ?? []), partValue(p)]);
  }
  return Object.fromEntries(
    [...out].map(([name, values]) => [name, values.length === 1 ? values[0] : values]),
  );
}

function applyOperation(doc: Json, op: Operation): void {
  switch (op.type) {
    case 'add': {
      const [container, ...more] = evalObjects(doc, op.path);
      if (!container || more.length > 0) throw failed(op.n, 'add needs a path to one element');
      const target = container.value as Json;
      const def = getElementDefinition(container.type, op.name!);
      if (def?.isArray || (def?.max ?? 1) > 1) {
        const list = (target[op.name!] as unknown[] | undefined) ?? [];
        target[op.name!] = [...list, op.value];
      } else if (target[op.name!] !== undefined) {
        throw failed(op.n, `${op.name} already exists (use replace)`);
      } else {
        target[op.name!] = op.value;
      }
      return;
    }
    case 'insert':
    case 'move': {
      const { parent, key } = list(doc, op);
      const items = [...((parent[key] as unknown[] | undefined) ?? [])];
      if (op.type === 'insert') {
        if (op.index! > items.length) throw failed(op.n, `index ${op.index} is past the list`);
        items.splice(op.index!, 0, op.value);
      } else {
        if (op.source! >= items.length || op.destination! >= items.length) {
          throw failed(op.n, 'source or destination is past the list');
        }
        const [moved] = items.splice(op.source!, 1);
        items.splice(op.destination!, 0, moved);
      }
      parent[key] = items;
      return;
    }
    case 'delete': {
      const found = locate(doc, op.path);
      if (found.length > 1) throw failed(op.n, 'delete matched more than one element');
      if (found[0]) remove(found[0]);
      return;
    }
    case 'replace': {
      const found = locate(doc, op.path);
      if (found.length !== 1) {
        throw failed(op.n, `replace needs a path to one element (found ${found.length})`);
      }
      const { parent, key, index } = found[0]!;
      if (index === undefined) parent[key] = op.value;
      else (parent[key] as unknown[])[index] = op.value;
      return;
    }
  }
}

/** The list an insert or move works on: `parent.name` with a single parent. */
function list(doc: Json, op: Operation): { parent: Json; key: string } {
  if (!(op.path instanceof DotAtom && op.path.right instanceof SymbolAtom)) {
    throw failed(op.n, `${op.type} needs a path ending in an element name`);
  }
  const parents = evalObjects(doc, op.path.left);
  if (parents.length !== 1) throw failed(op.n, `${op.type} needs a path to one list`);
  const parent = parents[0]!.value as Json;
  return { parent, key: elementKey(parent, op.path.right.name) ?? op.path.right.name };
}

/** The elements a path selects, as places in the document. */
function locate(doc: Json, atom: Atom): Location[] {
  if (atom instanceof DotAtom && atom.right instanceof SymbolAtom) {
    return children(evalObjects(doc, atom.left), atom.right.name);
  }
  if (atom instanceof IndexerAtom) {
    const [index] = evaluate(doc, atom.expr);
    if (typeof index?.value !== 'number') throw new Error(`index ${atom.expr} is not a number`);
    const all = locate(doc, atom.left);
    return all[index.value] ? [all[index.value]!] : [];
  }
  const places = objectPlaces(doc);
  return evaluate(doc, atom).map((found) => {
    const place = typeof found.value === 'object' ? places.get(found.value as object) : undefined;
    if (!place) {
      throw new Error(`${atom} selects a value that cannot be located (name it by its element)`);
    }
    return place;
  });
}

/** `parent.name` of each parent, list items one by one (FHIRPath flattens them). */
function children(parents: TypedValue[], name: string): Location[] {
  const out: Location[] = [];
  for (const { value } of parents) {
    const parent = value as Json;
    const key = elementKey(parent, name);
    if (key === undefined) continue;
    const child = parent[key];
    if (!Array.isArray(child)) out.push({ parent, key });
    else for (let index = 0; index < child.length; index++) out.push({ parent, key, index });
  }
  return out;
}

/** The JSON key of element `name` (a choice element `value` is stored as `valueQuantity`). */
function elementKey(parent: Json, name: string): string | undefined {
  if (parent[name] !== undefined) return name;
  return Object.keys(parent).find((k) => k.startsWith(name) && /^[A-Z]/.test(k.slice(name.length)));
}

function evaluate(doc: Json, atom: Atom): TypedValue[] {
  return evalFhirPathTyped(new FhirPathAtom(atom.toString(), atom), [toTypedValue(doc)]);
}

/**
 * Elements a path selects that must be objects of the document itself (the resource or its
 * complex elements, as the evaluator hands them out), so that changing them changes it.
 */
function evalObjects(doc: Json, atom: Atom): TypedValue[] {
  const found = evaluate(doc, atom);
  let places: Map<object, Location> | undefined;
  for (const { value } of found) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new Error(`${atom} selects a primitive value, not an element to change`);
    }
    if (value === doc) continue;
    places ??= objectPlaces(doc);
    if (!places.has(value)) throw new Error(`${atom} selects a value that cannot be located`);
  }
  return found;
}

/** Every object of the document with its place, to find what a function selected. */
function objectPlaces(doc: Json): Map<object, Location> {
  const places = new Map<object, Location>();
  const walk = (parent: Json) => {
    for (const [key, child] of Object.entries(parent)) {
      if (Array.isArray(child)) {
        child.forEach((item, index) => {
          if (item !== null && typeof item === 'object') {
            places.set(item, { parent, key, index });
            walk(item as Json);
          }
        });
      } else if (child !== null && typeof child === 'object') {
        places.set(child, { parent, key });
        walk(child as Json);
      }
    }
  };
  walk(doc);
  return places;
}

function remove({ parent, key, index }: Location): void {
  if (index === undefined) {
    delete parent[key];
    return;
  }
  (parent[key] as unknown[]).splice(index, 1);
}

/** Drops what deletes left empty: `{}` and `[]` are not valid FHIR. */
function prune(value: unknown): boolean {
  if (Array.isArray(value)) {
    for (let i = value.length - 1; i >= 0; i--) if (prune(value[i])) value.splice(i, 1);
    return value.length === 0;
  }
  if (value !== null && typeof value === 'object') {
    const object = value as Json;
    for (const key of Object.keys(object)) if (prune(object[key])) delete object[key];
    return Object.keys(object).length === 0;
  }
  return false;
}

function failed(n: number, message: string): FhirError {
  return unprocessable([
    issue('processing', `FHIRPath Patch operation ${n} could not be applied: ${message}`),
  ]);
}
