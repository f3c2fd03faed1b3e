import {
  crawlTypedValue,
  type InternalSchemaElement,
  type InternalTypeSchema,
  type TypedValueWithPath,
  toTypedValue,
} from '@medplum/core';
import type { OperationOutcomeIssue, Resource } from 'fhir/r4.js';
import type { Definitions } from '../definitions.js';
import { issue } from '../errors.js';

const ID = /^[A-Za-z0-9\-.]{1,64}$/;
const DATE_PART = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?/;
const TIME_ZONE = /(?:Z|[+-]\d{2}:\d{2})$/;
const INTEGER_TYPES = new Set(['integer', 'positiveInt', 'unsignedInt']);
const XHTML_DIV =
  /^\s*<div\b[^>]*\sxmlns\s*=\s*(["'])http:\/\/www\.w3\.org\/1999\/xhtml\1[^>]*>[\s\S]*<\/div>\s*$/;

/**
 * Rules of the R4 base specification that @medplum/core's validator does not
 * enforce: JSON without empty strings or arrays, required bindings on `code`
 * elements, the `id` format, calendar-valid dates, time zones on dateTimes, 32-bit
 * integers, narrative as an XHTML div, and one type per choice element.
 */
export function strictChecks(
  resource: Resource,
  definitions: Definitions,
): OperationOutcomeIssue[] {
  const issues: OperationOutcomeIssue[] = [];
  // The typed crawl below cannot walk null array items or resources of unknown types.
  if (!checkJson(resource, resource.resourceType, definitions, issues)) return issues;
  try {
    crawlTypedValue(
      toTypedValue(resource),
      {
        onEnterObject(path, object, schema) {
          checkSingleChoices(object, object.path ?? path, schema, issues);
        },
        visitProperty(parent, key, path, values, schema) {
          const element = schema.elements[key];
          for (const value of values.flat()) {
            // The value's own path has array indexes and choice names resolved.
            const at = value.path ?? path;
            if (key === 'id' && definitions.isResourceType(parent.type)) checkId(value, at, issues);
            checkValue(value, at, element, definitions, issues);
          }
        },
      },
      { skipMissingProperties: true },
    );
  } catch {
    // It throws on `_x` primitive extensions it cannot merge with their value (an
    // array beside a single value, a non-object); the main validator reports those.
  }
  return issues;
}

function checkValue(
  value: TypedValueWithPath,
  path: string,
  element: InternalSchemaElement | undefined,
  definitions: Definitions,
  issues: OperationOutcomeIssue[],
): void {
  const { type, value: v } = value;
  if (INTEGER_TYPES.has(type) && typeof v === 'number' && !isInt32(v)) {
    issues.push(issue('value', `${type} ${v} is outside the 32-bit range`, path));
  }
  if (typeof v !== 'string') return;
  if ((type === 'date' || type === 'dateTime' || type === 'instant') && !isCalendarDate(v)) {
    issues.push(issue('value', `Invalid ${type} "${v}": no such calendar date`, path));
  }
  if (type === 'dateTime' && !hasTimeZoneIfTimed(v)) {
    issues.push(issue('value', `Invalid dateTime "${v}": a time needs a time zone`, path));
  }
  if (type === 'xhtml' && !isXhtmlDiv(v)) {
    issues.push(issue('value', 'Narrative must be a <div> in the XHTML namespace', path));
  }
  const binding = element?.binding;
  if (type === 'code' && binding?.strength === 'required' && binding.valueSet) {
    const codes = definitions.valueSetCodes(binding.valueSet);
    if (codes && !codes.has(v)) {
      const valueSet = binding.valueSet.split('|')[0];
      issues.push(
        issue('code-invalid', `Code "${v}" is not in the required value set ${valueSet}`, path),
      );
    }
  }
}

function checkId(value: TypedValueWithPath, path: string, issues: OperationOutcomeIssue[]): void {
  if (typeof value.value === 'string' && !isResourceId(value.value)) {
    issues.push(issue('value', `Invalid id "${value.value}": 1-64 of A-Z a-z 0-9 - .`, path));
  }
}

// The rules on single values, shared with the fast base validator (base-validator.ts).
export const isResourceId = (v: string): boolean => ID.test(v);
export const isInt32 = (v: number): boolean => v >= -2147483648 && v <= 2147483647;
export const hasTimeZoneIfTimed = (v: string): boolean => !v.includes('T') || TIME_ZONE.test(v);
export const isXhtmlDiv = (v: string): boolean => XHTML_DIV.test(v);

/** A choice element (`value[x]`) holds at most one value, so at most one of its typed properties. */
function checkSingleChoices(
  object: TypedValueWithPath,
  path: string,
  schema: InternalTypeSchema,
  issues: OperationOutcomeIssue[],
): void {
  const properties = object.value as Record<string, unknown>;
  for (const [key, element] of Object.entries(schema.elements)) {
    if (!key.endsWith('[x]')) continue;
    const prefix = key.slice(0, -3);
    const present = element.type
      .map((t) => prefix + t.code.charAt(0).toUpperCase() + t.code.slice(1))
      .filter((name) => properties[name] !== undefined);
    if (present.length > 1) {
      issues.push(
        issue('structure', `Only one of ${present.join(', ')} may be present`, `${path}.${key}`),
      );
    }
  }
}

/**
 * Rules on the JSON itself: no empty strings or arrays, and nested resources of
 * known types. False when the tree is malformed for the typed crawl (null array
 * items, unknown resource types); the main validator reports the nulls.
 */
function checkJson(
  value: unknown,
  path: string,
  definitions: Definitions,
  issues: OperationOutcomeIssue[],
): boolean {
  if (typeof value === 'string') {
    if (value.trim() === '') issues.push(issue('value', 'Strings must not be empty', path));
    return true;
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return true;
  let wellFormed = true;
  const object = value as Record<string, unknown>;
  const type = object.resourceType;
  if (type !== undefined && !(typeof type === 'string' && definitions.isResourceType(type))) {
    issues.push(
      issue('structure', `Unknown resource type "${String(type)}"`, `${path}.resourceType`),
    );
    wellFormed = false;
  }
  for (const [key, child] of Object.entries(object)) {
    if (!Array.isArray(child)) {
      wellFormed = checkJson(child, `${path}.${key}`, definitions, issues) && wellFormed;
      continue;
    }
    if (child.length === 0)
      issues.push(issue('structure', 'Arrays must not be empty', `${path}.${key}`));
    // Nulls only hold places in a primitive array paired with its `_key` extensions.
    const nullable = key.startsWith('_') || Array.isArray(object[`_${key}`]);
    child.forEach((item, i) => {
      if (item === null && !nullable) wellFormed = false;
      wellFormed = checkJson(item, `${path}.${key}[${i}]`, definitions, issues) && wellFormed;
    });
  }
  return wellFormed;
}

export function isCalendarDate(value: string): boolean {
  const m = DATE_PART.exec(value);
  if (!m) return true; // the format itself is checked by the main validator
  const [, y, mo, d] = m;
  if (mo === undefined) return true;
  const month = Number(mo);
  if (month < 1 || month > 12) return false;
  if (d === undefined) return true;
  const day = Number(d);
  const daysInMonth = new Date(Date.UTC(Number(y), month, 0)).getUTCDate();
  return day >= 1 && day <= daysInMonth;
}
