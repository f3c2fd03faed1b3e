import { evalFhirPathTyped, type TypedValue, UCUM } from '@medplum/core';
import type { OperationOutcomeIssue, Resource } from 'fhir/r4.js';
import type { Definitions } from '../definitions.js';
import {
  hasTimeZoneIfTimed,
  isCalendarDate,
  isInt32,
  isResourceId,
  isXhtmlDiv,
} from './strict-checks.js';
import { type ConstraintPlan, type KeyPlan, type TypePlan, typePlan } from './type-plans.js';

type Json = Record<string, unknown>;

/** Thrown inside the walk when the fast path cannot give medplum's exact answer. */
const UNDECIDED = Symbol('undecided');

const MAX_STRING = 1024 * 1024;
const NON_SPACE = /\S/;
const HL7_TYPES = 'http://hl7.org/fhir/StructureDefinition/';
const MEDPLUM_TYPES = 'https://medplum.com/fhir/StructureDefinition/';
const DOMAIN_RESOURCE_ON_CONTAINED = new Set(['dom-2', 'dom-4', 'dom-5']);
const EXT_1 = 'extension.exists() != value.exists()';

/**
 * The issues medplum's validator plus strictChecks report for a resource against the
 * base R4 definitions, found in one walk over the plain JSON; or undefined when the
 * walk meets anything it does not answer exactly as they do, then the caller runs
 * them. It answers resources that pass every rule, with the warnings medplum gives
 * on reference targets; any error, and any shape medplum might read otherwise (`_x`
 * primitive extensions, nulls, keys medplum could read as two elements), is left to
 * them, so the reported issues and their messages stay theirs.
 */
export function fastBaseIssues(
  resource: Resource,
  definitions: Definitions,
): OperationOutcomeIssue[] | undefined {
  try {
    return new BaseWalk(resource, definitions).run();
  } catch (err) {
    if (err === UNDECIDED) return undefined;
    throw err;
  }
}

function undecided(): never {
  throw UNDECIDED;
}

class BaseWalk {
  private readonly warnings: OperationOutcomeIssue[] = [];
  /** Path segments below the root: element names and array indexes. */
  private readonly path: (string | number)[] = [];
  /** The resources the walk is inside, innermost last: FHIRPath's %resource. */
  private readonly resources: Json[] = [];
  private readonly root: TypedValue;
  private rootPath = '';

  constructor(
    private readonly resource: Resource,
    private readonly definitions: Definitions,
  ) {
    this.root = { type: resource.resourceType, value: resource };
  }

  run(): OperationOutcomeIssue[] {
    const plan = this.resourcePlan(this.resource);
    this.rootPath = plan.schema.path;
    this.walkResource(this.resource as unknown as Json, plan);
    // Medplum checks the type's own invariants on the root resource only.
    for (const c of plan.constraints) {
      if (!this.rootConstraintHolds(c)) undecided();
    }
    return this.warnings;
  }

  private resourcePlan(value: unknown): TypePlan {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) undecided();
    const type = (value as Json).resourceType;
    if (typeof type !== 'string' || !this.definitions.isResourceType(type)) undecided();
    return typePlan(type) ?? undecided();
  }

  private walkResource(resource: Json, plan: TypePlan): void {
    const id = resource.id;
    if (typeof id === 'string' && !isResourceId(id)) undecided();
    this.resources.push(resource);
    this.walkObject(resource, plan, true);
    this.resources.pop();
  }

  private walkObject(object: Json, plan: TypePlan, isResource: boolean): void {
    const found: KeyPlan[] = [];
    let sorted = true;
    for (const key in object) {
      const keyPlan = plan.keys.get(key);
      if (keyPlan === undefined) {
        if (isResource && key === 'resourceType') continue;
        undecided(); // unknown properties, `_x` primitive extensions
      }
      if (!keyPlan.supported) undecided();
      if (object[key] === undefined) {
        // Built in code rather than parsed: medplum reads it as absent, except that a
        // choice key still counts in its check for conflicting choice types.
        if (keyPlan.element.names.length > 1 || keyPlan.element.key.endsWith('[x]')) undecided();
        continue;
      }
      const last = found[found.length - 1];
      if (last && last.element.index >= keyPlan.element.index) sorted = false;
      found.push(keyPlan);
    }
    if (found.length === 0 && !isResource) undecided(); // an empty object
    if (!sorted) {
      found.sort((a, b) => a.element.index - b.element.index);
      for (let i = 1; i < found.length; i++) {
        // Two types of one choice element
        if (found[i]!.element === found[i - 1]!.element) undecided();
      }
    }
    let required = 0;
    for (const keyPlan of found) {
      if (keyPlan.element.element.min > 0) required++;
      this.walkProperty(keyPlan, object[keyPlan.name]);
    }
    if (required < plan.required.length) undecided();
  }

  /** Mirrors medplum's visitProperty then its crawl into the values, in that order. */
  private walkProperty(keyPlan: KeyPlan, value: unknown): void {
    const { element } = keyPlan.element;
    this.path.push(keyPlan.element.key);
    if (element.isArray) {
      if (!Array.isArray(value) || value.length === 0) undecided();
      if (value.length < element.min || value.length > element.max) undecided();
      for (let i = 0; i < value.length; i++) this.checkValue(keyPlan, value[i], i);
      for (let i = 0; i < value.length; i++) this.walkValue(keyPlan, value[i], i);
    } else {
      if (Array.isArray(value) || element.min > 1 || element.max < 1) undecided();
      this.checkValue(keyPlan, value, undefined);
      this.walkValue(keyPlan, value, undefined);
    }
    this.path.pop();
  }

  /** The checks on one value itself: JSON type, format, strict rules, reference target. */
  private checkValue(keyPlan: KeyPlan, value: unknown, index: number | undefined): void {
    switch (keyPlan.kind) {
      case 'string':
        if (typeof value !== 'string') undecided();
        this.checkString(keyPlan, value);
        return;
      case 'number':
        if (typeof value !== 'number') undecided();
        checkNumber(keyPlan.type, value);
        return;
      case 'boolean':
        if (typeof value !== 'boolean') undecided();
        return;
      default:
        if (typeof value !== 'object' || value === null || Array.isArray(value)) undecided();
        if (keyPlan.type === 'Reference') this.checkReference(keyPlan, value as Json, index);
    }
  }

  private checkString(keyPlan: KeyPlan, value: string): void {
    if (value.length > MAX_STRING || !NON_SPACE.test(value)) undecided();
    if (keyPlan.regex && !keyPlan.regex.test(value)) undecided();
    const type = keyPlan.type;
    if ((type === 'date' || type === 'dateTime' || type === 'instant') && !isCalendarDate(value)) {
      undecided();
    }
    if (type === 'dateTime' && !hasTimeZoneIfTimed(value)) undecided();
    if (type === 'xhtml' && !isXhtmlDiv(value)) undecided();
    const valueSet = keyPlan.element.requiredValueSet;
    if (valueSet && type === 'code') {
      const codes = this.definitions.valueSetCodes(valueSet);
      if (codes && !codes.has(value)) undecided();
    }
  }

  /** Medplum's referenceTypeCheck: a warning when the target type is not among the allowed. */
  private checkReference(keyPlan: KeyPlan, value: Json, index: number | undefined): void {
    const reference = value.reference;
    const targets = keyPlan.targetProfiles;
    if (typeof reference !== 'string' || reference.startsWith('#') || !targets) return;
    const type = reference.includes('?') ? reference.split('?')[0] : reference.split('/')[0];
    if (!type) return;
    for (const target of targets) {
      if (
        target === `${HL7_TYPES}Resource` ||
        target === HL7_TYPES + type ||
        target === MEDPLUM_TYPES + type
      ) {
        return;
      }
      if (!target.startsWith(HL7_TYPES) && !target.startsWith(MEDPLUM_TYPES)) return;
    }
    const text = `Invalid reference: got "${type}", expected "${targets.join('", "')}"`;
    this.warnings.push({
      severity: 'warning',
      code: 'structure',
      details: { text },
      expression: [this.pathString(index)],
      diagnostics: text,
    });
  }

  /** Into a value: its own elements, then the invariants of the element it is in. */
  private walkValue(keyPlan: KeyPlan, value: unknown, index: number | undefined): void {
    if (index !== undefined) this.path.push(index);
    let type = keyPlan.type;
    if (keyPlan.kind === 'resource') {
      const plan = this.resourcePlan(value);
      type = plan.schema.type;
      this.walkResource(value as Json, plan);
    } else if (keyPlan.kind === 'complex') {
      this.walkObject(value as Json, typePlan(type) ?? undecided(), false);
    }
    for (const c of keyPlan.element.constraints) {
      if (!this.constraintHolds(c, type, value)) undecided();
    }
    if (index !== undefined) this.path.pop();
  }

  private constraintHolds(c: ConstraintPlan, type: string, value: unknown): boolean {
    // ext-1 on every extension: the walk has checked the extension's keys already.
    if (c.constraint.expression === EXT_1 && type === 'Extension') {
      const extension = value as Json;
      let hasValue = false;
      for (const key in extension) if (key.startsWith('value')) hasValue = true;
      return (extension.extension !== undefined) !== hasValue;
    }
    return this.evaluate(c, { type, value });
  }

  private rootConstraintHolds(c: ConstraintPlan): boolean {
    // The invariants of DomainResource on contained resources hold when there are none.
    if (DOMAIN_RESOURCE_ON_CONTAINED.has(c.constraint.key)) {
      if (c.constraint.expression.startsWith('contained.') && !('contained' in this.resource)) {
        return true;
      }
    }
    this.resources.push(this.resource as unknown as Json);
    const holds = this.evaluate(c, this.root);
    this.resources.pop();
    return holds;
  }

  /** As medplum's isExpressionTrue, with the same variables. */
  private evaluate(c: ConstraintPlan, context: TypedValue): boolean {
    const current = this.resources[this.resources.length - 1]!;
    const variables: Record<string, TypedValue> = {
      '%context': context,
      '%ucum': { type: 'string', value: UCUM },
      '%resource': { type: current.resourceType as string, value: current },
      '%rootResource': this.root,
    };
    try {
      const result = evalFhirPathTyped(c.expression, [context], variables);
      return result.length === 1 && result[0]!.value === true;
    } catch {
      return false;
    }
  }

  private pathString(index: number | undefined): string {
    let path = this.rootPath;
    for (const segment of this.path) {
      path += typeof segment === 'number' ? `[${segment}]` : `.${segment}`;
    }
    return index === undefined ? path : `${path}[${index}]`;
  }
}

/** Medplum's validateNumber plus the 32-bit range strictChecks adds. */
function checkNumber(type: string, value: number): void {
  if (!Number.isFinite(value)) undecided();
  if (type === 'integer' || type === 'positiveInt' || type === 'unsignedInt') {
    if (!Number.isInteger(value) || !isInt32(value)) undecided();
    if (type === 'positiveInt' && value <= 0) undecided();
    if (type === 'unsignedInt' && value < 0) undecided();
  }
}
