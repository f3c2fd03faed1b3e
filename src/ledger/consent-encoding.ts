import { encodeAbiParameters, type Hex, keccak256 } from 'viem';

// The compact encoding of grant scopes on chain (see contracts/README.md). The tables are
// frozen: a bit's meaning never changes once grants use it, so new codes are only appended.

/**
 * Resource classes: bit i of a grant's `classes` is RESOURCE_CLASSES[i], the FHIR R4 (4.0.1)
 * resource types in alphabetical order.
 */
export const RESOURCE_CLASSES = [
  'Account',
  'ActivityDefinition',
  'AdverseEvent',
  'AllergyIntolerance',
  'Appointment',
  'AppointmentResponse',
  'AuditEvent',
  'Basic',
  'Binary',
  'BiologicallyDerivedProduct',
  'BodyStructure',
  'Bundle',
  'CapabilityStatement',
  'CarePlan',
  'CareTeam',
  'CatalogEntry',
  'ChargeItem',
  'ChargeItemDefinition',
  'Claim',
  'ClaimResponse',
  'ClinicalImpression',
  'CodeSystem',
  'Communication',
  'CommunicationRequest',
  'CompartmentDefinition',
  'Composition',
  'ConceptMap',
  'Condition',
  'Consent',
  'Contract',
  'Coverage',
  'CoverageEligibilityRequest',
  'CoverageEligibilityResponse',
  'DetectedIssue',
  'Device',
  'DeviceDefinition',
  'DeviceMetric',
  'DeviceRequest',
  'DeviceUseStatement',
  'DiagnosticReport',
  'DocumentManifest',
  'DocumentReference',
  'EffectEvidenceSynthesis',
  'Encounter',
  'Endpoint',
  'EnrollmentRequest',
  'EnrollmentResponse',
  'EpisodeOfCare',
  'EventDefinition',
  'Evidence',
  'EvidenceVariable',
  'ExampleScenario',
  'ExplanationOfBenefit',
  'FamilyMemberHistory',
  'Flag',
  'Goal',
  'GraphDefinition',
  'Group',
  'GuidanceResponse',
  'HealthcareService',
  'ImagingStudy',
  'Immunization',
  'ImmunizationEvaluation',
  'ImmunizationRecommendation',
  'ImplementationGuide',
  'InsurancePlan',
  'Invoice',
  'Library',
  'Linkage',
  'List',
  'Location',
  'Measure',
  'MeasureReport',
  'Media',
  'Medication',
  'MedicationAdministration',
  'MedicationDispense',
  'MedicationKnowledge',
  'MedicationRequest',
  'MedicationStatement',
  'MedicinalProduct',
  'MedicinalProductAuthorization',
  'MedicinalProductContraindication',
  'MedicinalProductIndication',
  'MedicinalProductIngredient',
  'MedicinalProductInteraction',
  'MedicinalProductManufactured',
  'MedicinalProductPackaged',
  'MedicinalProductPharmaceutical',
  'MedicinalProductUndesirableEffect',
  'MessageDefinition',
  'MessageHeader',
  'MolecularSequence',
  'NamingSystem',
  'NutritionOrder',
  'Observation',
  'ObservationDefinition',
  'OperationDefinition',
  'OperationOutcome',
  'Organization',
  'OrganizationAffiliation',
  'Parameters',
  'Patient',
  'PaymentNotice',
  'PaymentReconciliation',
  'Person',
  'PlanDefinition',
  'Practitioner',
  'PractitionerRole',
  'Procedure',
  'Provenance',
  'Questionnaire',
  'QuestionnaireResponse',
  'RelatedPerson',
  'RequestGroup',
  'ResearchDefinition',
  'ResearchElementDefinition',
  'ResearchStudy',
  'ResearchSubject',
  'RiskAssessment',
  'RiskEvidenceSynthesis',
  'Schedule',
  'SearchParameter',
  'ServiceRequest',
  'Slot',
  'Specimen',
  'SpecimenDefinition',
  'StructureDefinition',
  'StructureMap',
  'Subscription',
  'Substance',
  'SubstanceNucleicAcid',
  'SubstancePolymer',
  'SubstanceProtein',
  'SubstanceReferenceInformation',
  'SubstanceSourceMaterial',
  'SubstanceSpecification',
  'SupplyDelivery',
  'SupplyRequest',
  'Task',
  'TerminologyCapabilities',
  'TestReport',
  'TestScript',
  'ValueSet',
  'VerificationResult',
  'VisionPrescription',
] as const;

/** Actions: bit i of a grant's `actions`. */
export const ACTIONS = ['read', 'write'] as const;

/**
 * Purposes of use: bit i of a grant's `purposes` is PURPOSES[i], a code of the HL7 v3
 * PurposeOfUse value set (system http://terminology.hl7.org/CodeSystem/v3-ActReason).
 */
export const PURPOSES = [
  'TREAT',
  'ETREAT',
  'HPAYMT',
  'HOPERAT',
  'HRESCH',
  'PUBHLTH',
  'PATRQT',
  'FAMRQT',
  'PWATRNY',
  'SUPNWK',
  'HLEGAL',
  'HMARKT',
  'COVERAGE',
  'CAREMGT',
  'HSYSADMIN',
  'BTG',
] as const;

export type ResourceClass = (typeof RESOURCE_CLASSES)[number];
export type Action = (typeof ACTIONS)[number];
export type Purpose = (typeof PURPOSES)[number];

/** Every class, including ones appended to the table later. */
export const ALL_CLASSES = (1n << 256n) - 1n;
/** Every purpose, including ones appended to the table later. */
export const ALL_PURPOSES = 0xffff_ffff;
/** The wildcard actor key: a grant with it applies to every actor. */
export const ANY_ACTOR = `0x${'0'.repeat(64)}` as const;

/** Grant effect and decision, as the contract's enums number them. */
export const Effect = { Permit: 0, Deny: 1 } as const;
export const Decision = { NotApplicable: 0, Permit: 1, Deny: 2 } as const;

export function classIndex(resourceType: string): number {
  return indexOf(RESOURCE_CLASSES, resourceType, 'resource type');
}

export function actionIndex(action: string): number {
  return indexOf(ACTIONS, action, 'action');
}

export function purposeIndex(purpose: string): number {
  return indexOf(PURPOSES, purpose, 'purpose of use');
}

/** The `classes` bit mask of a set of resource types. */
export function classMask(resourceTypes: Iterable<string>): bigint {
  let mask = 0n;
  for (const type of resourceTypes) mask |= 1n << BigInt(classIndex(type));
  return mask;
}

/** The `actions` bit mask of a set of actions. */
export function actionMask(actions: Iterable<string>): number {
  let mask = 0;
  for (const action of actions) mask |= 1 << actionIndex(action);
  return mask;
}

/** The `purposes` bit mask of a set of purpose-of-use codes. */
export function purposeMask(purposes: Iterable<string>): number {
  let mask = 0;
  for (const purpose of purposes) mask |= 1 << purposeIndex(purpose);
  // `>>> 0` keeps bit 31 a positive uint32.
  return mask >>> 0;
}

function indexOf(table: readonly string[], code: string, what: string): number {
  const index = table.indexOf(code);
  if (index < 0) throw new RangeError(`unknown ${what}: ${code}`);
  return index;
}

/**
 * A salted commitment to a reference (a patient, an actor, a Consent version): what the chain
 * holds instead of the reference. keccak256(abi.encode(bytes32 salt, string reference)).
 */
export function commitment(salt: Hex, reference: string): Hex {
  return keccak256(
    encodeAbiParameters([{ type: 'bytes32' }, { type: 'string' }], [salt, reference]),
  );
}
