import { crawlTypedValue, toTypedValue } from '@medplum/core';
import type { OperationOutcomeIssue, Resource } from 'fhir/r4.js';
import type { Definitions } from '../definitions.js';
import { issue } from '../errors.js';

const ID = /^[A-Za-z0-9\-.]{1,64}$/;
const DATE_PART = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?/;

/**
 * Rules of the R4 base specification that @medplum/core's validator does not
 * enforce: required bindings on `code` elements, non-empty strings, the `id`
 * format, and calendar-valid dates.
 */
export function strictChecks(resource: Resource, definitions: Definitions): OperationOutcomeIssue[] {
  const issues: OperationOutcomeIssue[] = [];
  findEmptyStrings(resource, resource.resourceType, issues);
  crawlTypedValue(
    toTypedValue(resource),
    {
      visitProperty(parent, key, path, values, schema) {
        const element = schema.elements[key];
        for (const value of values.flat()) {
          const v = value.value;
          if (typeof v !== 'string') continue;
          if (key === 'id' && definitions.isResourceType(parent.type) && !ID.test(v)) {
            issues.push(issue('value', `Invalid id "${v}": 1-64 of A-Z a-z 0-9 - .`, path));
          }
          if (
            (value.type === 'date' || value.type === 'dateTime' || value.type === 'instant') &&
            !isCalendarDate(v)
          ) {
            issues.push(issue('value', `Invalid ${value.type} "${v}": no such calendar date`, path));
          }
          const binding = element?.binding;
          if (value.type === 'code' && binding?.strength === 'required' && binding.valueSet) {
            const codes = definitions.valueSetCodes(binding.valueSet);
            if (codes && !codes.has(v)) {
              issues.push(
                issue(
                  'code-invalid',
                  `Code "${v}" is not in the required value set ${binding.valueSet.split('|')[0]}`,
                  path,
                ),
              );
            }
          }
        }
      },
    },
    { skipMissingProperties: true },
  );
  return issues;
}

function findEmptyStrings(value: unknown, path: string, issues: OperationOutcomeIssue[]): void {
  if (typeof value === 'string') {
    if (value.trim() === '') issues.push(issue('value', 'Strings must not be empty', path));
  } else if (Array.isArray(value)) {
    value.forEach((item, i) => {
      findEmptyStrings(item, `${path}[${i}]`, issues);
    });
  } else if (value && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) findEmptyStrings(child, `${path}.${key}`, issues);
  }
}

function isCalendarDate(value: string): boolean {
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
