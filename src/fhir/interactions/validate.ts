import type { OperationOutcomeIssue, Parameters, Resource } from 'fhir/r4.js';
import { badRequest, issue, outcome } from '../errors.js';
import { runBeforeOperation } from '../hooks.js';
import { validateResource } from '../validation/validate-resource.js';
import { requireType, single } from './common.js';
import type { FhirRequest, Handler, Services } from './types.js';

const MODES = ['create', 'update', 'delete'] as const;
type Mode = (typeof MODES)[number];

/**
 * POST [type]/$validate and [type]/[id]/$validate: reports every issue with its
 * path and severity in a 200 OperationOutcome; stores nothing. The body is the
 * resource itself or a Parameters with `resource`, `mode` and `profile`.
 */
export const validate: Handler = async (req, services) => {
  const type = requireType(req, services);
  await runBeforeOperation(
    services.hooks,
    { interaction: 'validate', resourceType: type, id: req.id },
    req.ctx,
  );
  const { resource, mode, profileUrl } = readInput(req);
  if (mode === 'delete')
    return { status: 200, resource: outcome(await checkDelete(req, services, type)) };
  if (!resource)
    throw badRequest('$validate needs a resource (the body, or the Parameters "resource")');
  const profile =
    profileUrl === undefined
      ? undefined
      : services.definitions.profiles.get(profileUrl.split('|')[0]!);
  if (profileUrl !== undefined && !profile)
    throw badRequest(`Unknown profile ${profileUrl}`, 'profile');

  const issues: OperationOutcomeIssue[] = [];
  if (resource.resourceType !== type) {
    issues.push(
      issue(
        'invalid',
        `resourceType "${resource.resourceType}" does not match ${type}`,
        'resourceType',
      ),
    );
  } else {
    issues.push(...validateResource(resource, services.definitions, profile).issues);
  }
  if (mode === 'update') {
    if (!resource.id)
      issues.push(issue('required', 'An update needs the resource id', `${type}.id`));
    else if (req.id && resource.id !== req.id) {
      issues.push(
        issue(
          'invalid',
          `Resource id "${resource.id}" does not match the URL id "${req.id}"`,
          `${type}.id`,
        ),
      );
    }
  }
  return { status: 200, resource: outcome(issues.length ? issues : [allOk()]) };
};

function readInput(req: FhirRequest): { resource?: Resource; mode: Mode; profileUrl?: string } {
  const body = req.body as Resource | undefined;
  let resource: Resource | undefined = body;
  let mode = single(req.query.mode);
  let profileUrl = single(req.query.profile);
  if (body?.resourceType === 'Parameters') {
    const params = (body as Parameters).parameter ?? [];
    resource = params.find((p) => p.name === 'resource')?.resource;
    mode = params.find((p) => p.name === 'mode')?.valueCode ?? mode;
    profileUrl =
      params.find((p) => p.name === 'profile')?.valueUri ??
      params.find((p) => p.name === 'profile')?.valueCanonical ??
      profileUrl;
  }
  if (body !== undefined && (typeof body !== 'object' || Array.isArray(body))) {
    throw badRequest('Request body must be a JSON object');
  }
  if (mode !== undefined && !(MODES as readonly string[]).includes(mode)) {
    throw badRequest(`mode must be one of ${MODES.join(', ')}`, 'mode');
  }
  return { resource, mode: (mode ?? 'create') as Mode, profileUrl };
}

async function checkDelete(
  req: FhirRequest,
  services: Services,
  type: string,
): Promise<OperationOutcomeIssue[]> {
  if (!req.id) throw badRequest('mode=delete needs an instance: POST [type]/[id]/$validate');
  const current = await services.store.current(type, req.id);
  if (!current?.resource) return [issue('not-found', `${type}/${req.id} does not exist`)];
  return [allOk()];
}

function allOk(): OperationOutcomeIssue {
  return issue('informational', 'No issues found', undefined, 'information');
}
