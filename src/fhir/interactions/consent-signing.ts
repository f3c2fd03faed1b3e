import type { Parameters, Resource } from 'fhir/r4.js';
import { badRequest, notSupported } from '../errors.js';
import { runBeforeOperation } from '../hooks.js';
import type { Handler } from './types.js';

/**
 * POST Consent/$signing-request: what the patient signs so that a Consent is written as
 * patient-signed grants (src/consent/lifecycle/README.md). The body is the Consent, or a
 * Parameters with `resource` (the Consent) and `deadline` (valueInstant). Stores nothing.
 */
export const consentSigningRequest: Handler = async (req, services) => {
  await runBeforeOperation(
    services.hooks,
    { interaction: 'consent-signing', resourceType: 'Consent' },
    req.ctx,
  );
  if (!services.consent) throw notSupported(501, 'This server records no consents on a chain');
  const body = req.body as Resource | undefined;
  let consent: Resource | undefined = body;
  let deadline: string | undefined;
  if (body?.resourceType === 'Parameters') {
    const parameters = (body as Parameters).parameter ?? [];
    consent = parameters.find((p) => p.name === 'resource')?.resource;
    deadline = parameters.find((p) => p.name === 'deadline')?.valueInstant;
  }
  if (consent?.resourceType !== 'Consent') {
    throw badRequest('$signing-request needs a Consent (the body, or the Parameters "resource")');
  }
  return {
    status: 200,
    resource: await services.consent.signingRequest(consent, deadline, req.ctx),
  };
};
