import {
  AsAtom,
  type Atom,
  capitalize,
  DotAtom,
  EqualsAtom,
  type FhirPathAtom,
  FunctionAtom,
  getElementDefinition,
  type InternalSchemaElement,
  IsAtom,
  isEmpty,
  LiteralAtom,
  removeDuplicates,
  SymbolAtom,
  type TypedValue,
  UnionAtom,
} from '@medplum/core';
import { parseReference, relativeReferences } from './references.js';

/**
 * The values of a search parameter's expression on one resource, read straight from the JSON;
 * undefined when the resource holds something only the FHIRPath engine reads the same way
 * (a primitive extension `_name`, an element the type schema does not know).
 */
export type PathAccessor = (resource: TypedValue) => TypedValue[] | undefined;

type Step = (input: TypedValue[]) => TypedValue[];

/** Thrown by a step that meets data it cannot read like the engine; caught per evaluation. */
const NEEDS_ENGINE = Symbol('needs the FHIRPath engine');

/**
 * Compiles the shapes the official R4 search parameters are written in: dotted paths, `|`,
 * `as T`, `.as(T)`, `.ofType(T)`, `.where(resolve() is T)` and `.where(name = 'text')`.
 * Each step mirrors what medplum's evaluator does for it (types from the schema, choice types,
 * duplicates dropped by `|`, a reference's type read from its relative or absolute URL), so the
 * values are the engine's; evaluating the engine costs ~3x more because of its generality.
 * Undefined for anything else, which keeps using the engine.
 */
export function compilePath(atom: FhirPathAtom): PathAccessor | undefined {
  // The engine's callers rewrite absolute references to relative ones before a resolve()
  // (index-rows.ts); such expressions yield values rewritten the same way.
  const rewrite = atom.original.includes('resolve()');
  const step = compileUnion(atom.child, rewrite);
  if (!step) return undefined;
  const mayRead = firstReads(atom.child);
  return (resource) => {
    // Most of a type's ~40 parameters read elements the resource does not have.
    if (mayRead && !mayRead(resource.value as Record<string, unknown>)) return [];
    try {
      return step([resource]);
    } catch (err) {
      if (err === NEEDS_ENGINE) return undefined;
      throw err;
    }
  };
}

/**
 * A test that is false only when the expression yields nothing on a resource: when none of
 * the keys its first step reads (`Observation.value` reads valueQuantity, valueString...
 * and their `_` extensions) is there. Undefined when the expression does not start that way.
 */
function firstReads(atom: Atom): ((resource: Record<string, unknown>) => boolean) | undefined {
  if (atom instanceof UnionAtom) {
    const left = firstReads(atom.left);
    const right = firstReads(atom.right);
    return left && right && ((resource) => left(resource) || right(resource));
  }
  let start = atom;
  while (
    start instanceof AsAtom ||
    (start instanceof DotAtom && !(start.left instanceof SymbolAtom))
  ) {
    start = start.left;
  }
  if (!(start instanceof DotAtom) || !(start.left instanceof SymbolAtom)) return undefined;
  if (!(start.right instanceof SymbolAtom)) return undefined;
  const type = start.left.name;
  const property = propertyOf(type, start.right.name);
  if (!property) return undefined;
  const keys = [...property.keys, ...property.extensionKeys];
  // A resource of another type (Person.address | RelatedPerson.address) is read by the steps.
  return (resource) =>
    resource.resourceType !== type || keys.some((key) => resource[key] !== undefined);
}

function compileUnion(atom: Atom, rewrite: boolean): Step | undefined {
  if (atom instanceof UnionAtom) {
    const left = compileUnion(atom.left, rewrite);
    const right = compileUnion(atom.right, rewrite);
    if (!left || !right) return undefined;
    return (input) => {
      const all = left(input).concat(right(input));
      return all.length > 1 ? removeDuplicates(all) : all;
    };
  }
  const step = compileStep(atom, rewrite);
  if (!step || !rewrite) return step;
  return (input) =>
    step(input).map((item) => {
      const value = relativeReferences(item.value);
      return value === item.value ? item : { type: item.type, value };
    });
}

/** `rewrite`: the engine would see absolute references rewritten, so reading one is refused. */
function compileStep(atom: Atom, rewrite: boolean): Step | undefined {
  if (atom instanceof SymbolAtom) {
    const { name } = atom;
    if (name.startsWith('$') || name.startsWith('%') || (rewrite && name === 'reference')) {
      return undefined;
    }
    return child(name);
  }
  if (atom instanceof DotAtom) {
    const left = compileStep(atom.left, rewrite);
    const right =
      atom.right instanceof FunctionAtom
        ? compileFunction(atom.right, rewrite)
        : compileStep(atom.right, rewrite);
    if (!left || !right) return undefined;
    return (input) => right(left(input));
  }
  if (atom instanceof AsAtom) {
    const left = compileStep(atom.left, rewrite);
    if (!left || !(atom.right instanceof SymbolAtom)) return undefined;
    const type = atom.right.name;
    return (input) => left(input).filter((v) => v.type === type);
  }
  return undefined;
}

function compileFunction(atom: FunctionAtom, rewrite: boolean): Step | undefined {
  const [arg] = atom.args;
  if (atom.args.length !== 1 || !arg) return undefined;
  switch (atom.name) {
    case 'as': // medplum's as() function returns its input unchanged (only the `as` operator filters)
      return arg instanceof SymbolAtom ? (input) => input : undefined;
    case 'ofType': {
      if (!(arg instanceof SymbolAtom)) return undefined;
      const type = arg.name;
      return (input) => input.filter((v) => v.type === type);
    }
    case 'where':
      return compileWhere(arg, rewrite);
    default:
      return undefined;
  }
}

// fhirPathIs treats these names as System types checked by value, not by the resolved type.
const VALUE_CHECKED_TYPES = new Set([
  'Boolean',
  'Decimal',
  'Integer',
  'Date',
  'DateTime',
  'Time',
  'Period',
  'Quantity',
]);

function compileWhere(criteria: Atom, rewrite: boolean): Step | undefined {
  if (
    criteria instanceof IsAtom &&
    criteria.left instanceof FunctionAtom &&
    criteria.left.name === 'resolve' &&
    criteria.left.args.length === 0 &&
    criteria.right instanceof SymbolAtom &&
    !criteria.right.name.includes('.') &&
    !VALUE_CHECKED_TYPES.has(criteria.right.name)
  ) {
    const type = criteria.right.name;
    return (input) => input.filter((v) => resolvedType(v.value) === type);
  }
  if (
    criteria instanceof EqualsAtom &&
    criteria.left instanceof SymbolAtom &&
    criteria.right instanceof LiteralAtom &&
    typeof criteria.right.value.value === 'string'
  ) {
    const name = compileStep(criteria.left, rewrite);
    const literal = criteria.right.value.value;
    if (!name) return undefined;
    return (input) =>
      input.filter((v) => {
        const found = name([v]);
        return found.length === 1 && found[0]!.value?.valueOf() === literal;
      });
  }
  return undefined;
}

/**
 * The type medplum's resolve() gives a value, read after the absolute-to-relative rewrite: the
 * part before `?` of a conditional reference, else the part before the first `/`.
 */
function resolvedType(value: unknown): string | undefined {
  let reference: string | undefined;
  if (typeof value === 'string') reference = value;
  else if (typeof value === 'object') {
    if (value === null) throw NEEDS_ENGINE; // the engine fails there; let it
    const ref = value as {
      resource?: unknown;
      reference?: unknown;
      type?: unknown;
      identifier?: unknown;
    };
    if (ref.resource) throw NEEDS_ENGINE;
    if (ref.reference) {
      if (typeof ref.reference !== 'string') throw NEEDS_ENGINE;
      reference = ref.reference;
      const local = reference.includes('://') ? parseReference(reference) : undefined;
      if (local) return local.type;
    } else if (ref.type && ref.identifier) {
      reference = `${ref.type}?`;
    }
  }
  if (reference?.includes('?')) return reference.split('?')[0];
  if (reference?.includes('/')) return reference.split('/')[0];
  return undefined;
}

/** How an element is stored: the JSON keys to try in order (one per type of a choice) and their types. */
interface Property {
  keys: string[];
  /** `_` + each key: where a primitive's id and extensions are. */
  extensionKeys: string[];
  types: string[];
  /** The type given to values of type Element or BackboneElement (the first declared type). */
  firstType: string;
}

const properties = new Map<string, Map<string, Property | null>>();

function propertyOf(type: string, name: string): Property | null {
  let byName = properties.get(type);
  if (!byName) {
    byName = new Map();
    properties.set(type, byName);
  }
  let property = byName.get(name);
  if (property === undefined) {
    property = describe(getElementDefinition(type, name));
    byName.set(name, property);
  }
  return property;
}

function describe(element: InternalSchemaElement | undefined): Property | null {
  const types = element?.type;
  if (!element || !types || types.length === 0) return null;
  const last = element.path.slice(element.path.lastIndexOf('.') + 1);
  const keys = types.map((t) => last.replace('[x]', capitalize(t.code)));
  return {
    keys,
    extensionKeys: keys.map((key) => `_${key}`),
    types: types.map((t) => t.code),
    firstType: types[0]!.code,
  };
}

/** A symbol step: medplum's SymbolAtom with getTypedPropertyValueWithSchema, without its allocations. */
function child(name: string): Step {
  return (input) => {
    const out: TypedValue[] = [];
    for (const item of input) {
      const value = item.value as Record<string, unknown> | null | undefined;
      if (!value || typeof value !== 'object') continue;
      if (value.resourceType === name) {
        out.push(item);
        continue;
      }
      const property = propertyOf(item.type, name);
      if (!property) {
        // Without a schema the engine reads `name` or `name<Type>` and guesses the types; with
        // no such key (RelatedPerson.address on a Person) it finds nothing either.
        if (Object.keys(value).some((key) => key.startsWith(name))) throw NEEDS_ENGINE;
        continue;
      }
      let found: unknown;
      let type = 'undefined';
      for (let n = 0; n < property.keys.length; n++) {
        // The engine merges a primitive's extensions into the value it yields.
        if (value[property.extensionKeys[n]!] !== undefined) throw NEEDS_ENGINE;
        found = value[property.keys[n]!];
        if (found !== undefined) {
          type = property.types[n]!;
          break;
        }
      }
      if (isEmpty(found)) continue;
      if (type === 'Element' || type === 'BackboneElement') type = property.firstType;
      if (Array.isArray(found)) {
        for (const v of found) if (v !== undefined) out.push(typed(v, type));
      } else out.push(typed(found, type));
    }
    return out;
  };
}

function typed(value: unknown, type: string): TypedValue {
  if (type === 'Resource' && value && typeof value === 'object' && 'resourceType' in value) {
    return { type: (value as { resourceType: string }).resourceType, value };
  }
  return { type, value };
}
