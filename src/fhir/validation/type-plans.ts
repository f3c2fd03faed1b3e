import {
  type Constraint,
  capitalize,
  fhirTypeToJsType,
  type InternalSchemaElement,
  type InternalTypeSchema,
  parseFhirPath,
  tryGetDataType,
  validationRegexes,
} from '@medplum/core';

/**
 * Per-type plans for the fast base validator (base-validator.ts), compiled once from
 * the InternalTypeSchemas @medplum/core parsed from the R4 StructureDefinitions, so
 * that both validators read the same definitions. They mirror how medplum's
 * validator (typeschema/validation.ts, 4.5) resolves JSON keys to elements and types.
 */
export interface TypePlan {
  schema: InternalTypeSchema;
  /** Every JSON key an element of the type may appear under (choice types resolved). */
  keys: Map<string, KeyPlan>;
  /** Elements with min > 0. */
  required: ElementPlan[];
  /** The type's own invariants, which medplum checks on the root resource only. */
  constraints: ConstraintPlan[];
}

export interface ElementPlan {
  /** Position in the schema: medplum visits elements, and so reports issues, in this order. */
  index: number;
  /** The element's name in the schema (`value[x]`), which is what medplum's paths show. */
  key: string;
  element: InternalSchemaElement;
  /** Choice names (for `value[x]`) in the order of the element's types. */
  names: string[];
  constraints: ConstraintPlan[];
  /** The ValueSet of a required binding on a non-choice `code` (what strictChecks checks). */
  requiredValueSet: string | undefined;
}

export interface KeyPlan {
  /** The JSON key. */
  name: string;
  element: ElementPlan;
  /**
   * False where the value is left to medplum: fixed and pattern values, slicing,
   * elements without types or of unknown types, and names medplum could also read
   * as another choice element.
   */
  supported: boolean;
  /** The type medplum gives the value: the choice's type, the inner type of a backbone. */
  type: string;
  /** The JSON type of a primitive, 'complex' for data types, 'resource' for inline resources. */
  kind: 'string' | 'number' | 'boolean' | 'complex' | 'resource';
  regex: RegExp | undefined;
  /** Allowed targets of a Reference (its targetProfiles), when medplum checks them. */
  targetProfiles: string[] | undefined;
}

export interface ConstraintPlan {
  constraint: Constraint;
  /** Parsed once; evaluated with medplum's FHIRPath like medplum does. */
  expression: ReturnType<typeof parseFhirPath>;
}

// Mirrors medplum's skippedConstraintKeys: invariants its validator never evaluates.
const SKIPPED_CONSTRAINTS = new Set(['ele-1', 'dom-3', 'org-1', 'sdf-19']);

const plans = new WeakMap<InternalTypeSchema, TypePlan>();
const parsed = new Map<string, ConstraintPlan['expression']>();

/** The plan of a type, or undefined for a type medplum does not know. */
export function typePlan(type: string): TypePlan | undefined {
  const schema = tryGetDataType(type);
  if (!schema) return undefined;
  let plan = plans.get(schema);
  if (!plan) {
    plan = compile(schema);
    plans.set(schema, plan);
  }
  return plan;
}

function compile(schema: InternalTypeSchema): TypePlan {
  const keys = new Map<string, KeyPlan>();
  const required: ElementPlan[] = [];
  Object.entries(schema.elements).forEach(([key, element], index) => {
    const isChoice = key.endsWith('[x]');
    const types = element.type ?? [];
    const segment = element.path.slice(element.path.lastIndexOf('.') + 1);
    const names = types.map((t) => segment.replace('[x]', capitalize(t.code)));
    const supported =
      types.length > 0 &&
      !(element.fixed || element.pattern || element.slicing) &&
      (isChoice || segment === key);
    const plan: ElementPlan = {
      index,
      key,
      element,
      names: isChoice ? names : [key],
      constraints: compileConstraints(element.constraints),
      requiredValueSet:
        !isChoice &&
        types[0]?.code === 'code' &&
        element.binding?.strength === 'required' &&
        element.binding.valueSet
          ? element.binding.valueSet
          : undefined,
    };
    if (element.min > 0) required.push(plan);
    if (types.length === 0) {
      keys.set(key, unsupportedKey(key, plan));
      return;
    }
    types.forEach((t, i) => {
      const name = isChoice ? names[i]! : key;
      if (keys.has(name)) return; // medplum takes the first type that matches
      // A backbone's values are typed as the element's first type (its inner type).
      const code = t.code === 'Element' || t.code === 'BackboneElement' ? types[0]!.code : t.code;
      const keyPlan = keyPlanFor(name, plan, code);
      if (!supported || readsAsOtherChoice(name, isChoice ? key : undefined, schema.elements)) {
        keyPlan.supported = false;
      }
      keys.set(name, keyPlan);
    });
  });
  return { schema, keys, required, constraints: compileConstraints(schema.constraints) };
}

function keyPlanFor(name: string, element: ElementPlan, code: string): KeyPlan {
  const targetProfiles = element.element.type.find((t) => t.code === 'Reference')?.targetProfile;
  const base = { name, element, supported: true, type: code, regex: undefined, targetProfiles };
  if (code in fhirTypeToJsType) {
    const kind = fhirTypeToJsType[code as keyof typeof fhirTypeToJsType];
    return { ...base, kind, regex: validationRegexes[code] };
  }
  if (code === 'Resource') return { ...base, kind: 'resource' };
  // Medplum would throw on a data type it cannot find; such values go to medplum.
  if (code === 'undefined' || !tryGetDataType(code)) return unsupportedKey(name, element);
  return { ...base, kind: 'complex' };
}

function unsupportedKey(name: string, element: ElementPlan): KeyPlan {
  return {
    name,
    element,
    supported: false,
    type: 'undefined',
    kind: 'complex',
    regex: undefined,
    targetProfiles: undefined,
  };
}

/**
 * Medplum's check for unknown properties reads a key as a choice value when any
 * prefix of it, cut before a capital, names a choice element (`valueString` ->
 * `value[x]`). A key it could read as another element than ours is left to medplum.
 */
function readsAsOtherChoice(
  name: string,
  ownChoice: string | undefined,
  elements: Record<string, InternalSchemaElement>,
): boolean {
  let prefix = '';
  for (const part of name.split(/(?=[A-Z])/g)) {
    prefix += part;
    if (elements[`${prefix}[x]`]) return `${prefix}[x]` !== ownChoice;
  }
  return false;
}

function compileConstraints(constraints: Constraint[] | undefined): ConstraintPlan[] {
  return (constraints ?? [])
    .filter((c) => c.severity === 'error' && !SKIPPED_CONSTRAINTS.has(c.key))
    .map((constraint) => {
      let expression = parsed.get(constraint.expression);
      if (!expression) {
        expression = parseFhirPath(constraint.expression);
        parsed.set(constraint.expression, expression);
      }
      return { constraint, expression };
    });
}
