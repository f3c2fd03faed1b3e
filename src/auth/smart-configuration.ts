import type { CapabilityStatementRestSecurity } from 'fhir/r4.js';

export const ASSERTION_ALGS = ['RS384', 'ES384'] as const;

/** Where the auth endpoints live, relative to the FHIR base (they stay public). */
export const TOKEN_PATH = '/auth/token';
export const JWKS_PATH = '/auth/jwks';

/** `GET [base]/.well-known/smart-configuration` (SMART App Launch 2.x, §Conformance). */
export function smartConfiguration(baseUrl: string) {
  return {
    issuer: baseUrl,
    jwks_uri: `${baseUrl}${JWKS_PATH}`,
    token_endpoint: `${baseUrl}${TOKEN_PATH}`,
    grant_types_supported: ['client_credentials'],
    token_endpoint_auth_methods_supported: ['private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: [...ASSERTION_ALGS],
    scopes_supported: [
      'system/*.cruds',
      'system/*.rs',
      'system/*.*',
      'system/*.read',
      'system/*.write',
      'user/*.cruds',
      'user/*.rs',
      'patient/*.cruds',
      'patient/*.rs',
      'fhirUser',
    ],
    response_types_supported: ['token'],
    capabilities: [
      'client-confidential-asymmetric',
      'permission-v1',
      'permission-v2',
      'permission-patient',
      'permission-user',
    ],
  };
}

/** The CapabilityStatement's `rest.security`: SMART-on-FHIR with the OAuth endpoints. */
export function capabilitySecurity(baseUrl: string): CapabilityStatementRestSecurity {
  return {
    cors: false,
    service: [
      {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/restful-security-service',
            code: 'SMART-on-FHIR',
          },
        ],
        text: 'OAuth2 using SMART-on-FHIR profile (backend services; tokens of configured issuers)',
      },
    ],
    extension: [
      {
        url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
        extension: [{ url: 'token', valueUri: `${baseUrl}${TOKEN_PATH}` }],
      },
    ],
    description:
      'Every interaction but metadata needs a Bearer access token; see .well-known/smart-configuration.',
  };
}
