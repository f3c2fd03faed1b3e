// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IConsentRegistry
/// @notice Patient consents as compact on-chain grants. Every party is a salted commitment
/// (bytes32): the chain never holds a FHIR id, a name or any other clear identifier.
///
/// Encoding (the full tables are in contracts/README.md and src/ledger/consent-encoding.ts):
/// - `classes` (uint256): bit i set = the grant covers resource class i, where class i is the
///   i-th entry of the frozen resource-type table. `type(uint256).max` covers every class.
/// - `actions` (uint8): bit 0 = read, bit 1 = write. Other bits must be zero.
/// - `purposes` (uint32): bit i set = purpose of use i of the frozen PurposeOfUse table.
/// - `actor == bytes32(0)` is the wildcard actor: the grant applies to every actor.
/// - Time is unix seconds. A grant is in force at time t when
///   `validFrom <= t && (validUntil == 0 || t < validUntil)`; `validUntil == 0` never expires.
///
/// Decision for (patient P, actor A, class C, action X, purpose U, time t): the applicable
/// grants are the active (not revoked) grants of P whose actor is A or the wildcard, that are
/// in force at t, and whose classes, actions and purposes all have the bits C, X and U set.
/// If any applicable grant is a Deny the decision is Deny; otherwise if any is a Permit it is
/// Permit; otherwise NotApplicable. Only Permit permits.
interface IConsentRegistry {
    enum Effect {
        Permit,
        Deny
    }

    enum Status {
        None,
        Active,
        Revoked
    }

    enum Decision {
        NotApplicable,
        Permit,
        Deny
    }

    /// @notice What a grant says. `patient` and `actor` are salted commitments.
    struct GrantTerms {
        bytes32 patient;
        bytes32 actor;
        uint256 classes;
        uint8 actions;
        uint32 purposes;
        uint64 validFrom;
        uint64 validUntil;
        Effect effect;
        /// @dev Commitment to the FHIR Consent version this grant was translated from.
        bytes32 consentVersion;
    }

    /// @notice A stored grant: its terms and its status.
    struct Grant {
        GrantTerms terms;
        Status status;
    }

    /// @notice The caller (or signer) may not act for this patient.
    error ConsentRegistryUnauthorized(address account, bytes32 patient);
    /// @notice A grant with this id exists or existed; ids are never reused.
    error ConsentRegistryGrantExists(bytes32 grantId);
    /// @notice No grant has this id.
    error ConsentRegistryGrantNotFound(bytes32 grantId);
    /// @notice The grant was revoked; a revoked grant can be neither updated nor revoked again.
    error ConsentRegistryGrantRevoked(bytes32 grantId);
    /// @notice An update tried to move a grant to another patient.
    error ConsentRegistryPatientChanged(bytes32 grantId);
    /// @notice The grant id or patient key is zero.
    error ConsentRegistryZeroKey();
    /// @notice Empty classes, actions or purposes, or action bits outside read|write.
    error ConsentRegistryInvalidScope();
    /// @notice `validUntil` is set and not after `validFrom`.
    error ConsentRegistryInvalidPeriod(uint64 validFrom, uint64 validUntil);
    /// @notice The patient/actor pair already has the maximum number of active grants.
    error ConsentRegistryTooManyGrants(bytes32 patient, bytes32 actor);
    /// @notice The signature's deadline has passed.
    error ConsentRegistryExpiredSignature(uint256 deadline);
    /// @notice The patient key already has an account; only that account can move it.
    error ConsentRegistryPatientAlreadyBound(bytes32 patient, address account);
    /// @notice The zero address cannot be a patient account or a delegate.
    error ConsentRegistryZeroAddress();

    /// @notice A grant was created. Carries the full terms so a mirror needs no other call.
    event GrantCreated(
        bytes32 indexed grantId,
        bytes32 indexed patient,
        bytes32 indexed actor,
        GrantTerms terms,
        address by
    );
    /// @notice A grant's terms were replaced by `terms` (patient unchanged, actor may change).
    event GrantUpdated(
        bytes32 indexed grantId,
        bytes32 indexed patient,
        bytes32 indexed actor,
        GrantTerms terms,
        address by
    );
    /// @notice A grant was revoked for good.
    event GrantRevoked(
        bytes32 indexed grantId, bytes32 indexed patient, bytes32 indexed actor, address by
    );
    /// @notice The custodian bound a patient key to the patient's own account.
    event PatientAccountBound(bytes32 indexed patient, address indexed account);
    /// @notice The patient's account moved the patient key to another account.
    event PatientAccountTransferred(
        bytes32 indexed patient, address indexed previousAccount, address indexed account
    );
    /// @notice The patient's account added or removed a delegate (guardian, proxy).
    event DelegateChanged(bytes32 indexed patient, address indexed delegate, bool allowed);
    /// @notice The custodian can no longer act for patients; this cannot be undone.
    event CustodianGrantsDisabled();

    /// @notice Creates a grant.
    /// @dev Caller must be the patient's account, one of its delegates, or a custodian while
    /// custodian grants are allowed.
    /// @param grantId Caller-chosen id, non-zero and never used before (retries are idempotent).
    /// @param terms The grant's terms.
    function grant(bytes32 grantId, GrantTerms calldata terms) external;

    /// @notice Creates a grant signed off-chain (EIP-712 `Grant`) by the patient's account or a
    /// delegate; anyone may submit it. Consumes the patient's nonce.
    /// @param grantId As for `grant`.
    /// @param terms As for `grant`.
    /// @param deadline Last unix second at which the signature is accepted.
    /// @param signature 65-byte ECDSA signature; high-s (malleable) signatures are rejected.
    function grantWithSig(
        bytes32 grantId,
        GrantTerms calldata terms,
        uint256 deadline,
        bytes calldata signature
    ) external;

    /// @notice Replaces the terms of an active grant. The patient cannot change.
    /// @dev Same authorisation as `grant`.
    /// @param grantId The grant to update.
    /// @param terms The new terms.
    function update(bytes32 grantId, GrantTerms calldata terms) external;

    /// @notice `update` signed off-chain (EIP-712 `Update`). Consumes the patient's nonce.
    /// @param grantId The grant to update.
    /// @param terms The new terms.
    /// @param deadline Last unix second at which the signature is accepted.
    /// @param signature 65-byte ECDSA signature by the patient's account or a delegate.
    function updateWithSig(
        bytes32 grantId,
        GrantTerms calldata terms,
        uint256 deadline,
        bytes calldata signature
    ) external;

    /// @notice Revokes an active grant for good. Same authorisation as `grant`.
    /// @param grantId The grant to revoke.
    function revoke(bytes32 grantId) external;

    /// @notice `revoke` signed off-chain (EIP-712 `Revoke`). Consumes the patient's nonce.
    /// @param grantId The grant to revoke.
    /// @param deadline Last unix second at which the signature is accepted.
    /// @param signature 65-byte ECDSA signature by the patient's account or a delegate.
    function revokeWithSig(bytes32 grantId, uint256 deadline, bytes calldata signature) external;

    /// @notice Binds a patient key to the patient's own account. Custodian only, and only
    /// while the key is unbound: afterwards only the patient's account can move it.
    /// @param patient The patient key.
    /// @param account The patient's account.
    function bindPatientAccount(bytes32 patient, address account) external;

    /// @notice Moves the patient key to another account (key rotation). Patient account only.
    /// @param patient The patient key.
    /// @param account The new account.
    function transferPatientAccount(bytes32 patient, address account) external;

    /// @notice Adds or removes a delegate who may grant, update and revoke for the patient.
    /// Patient account only.
    /// @param patient The patient key.
    /// @param delegate The delegate's account.
    /// @param allowed True to add, false to remove.
    function setDelegate(bytes32 patient, address delegate, bool allowed) external;

    /// @notice Stops custodians acting for patients, for good. Admin only.
    function disableCustodianGrants() external;

    /// @notice The decision for actor `actor` doing action `action` on class `resourceClass`
    /// of patient `patient` for purpose `purpose` at unix time `time` (see the contract docs).
    /// @param patient The patient key.
    /// @param actor The actor key (the wildcard grants always apply as well).
    /// @param resourceClass Bit index in `classes`.
    /// @param action Bit index in `actions` (0 read, 1 write).
    /// @param purpose Bit index in `purposes`.
    /// @param time Unix seconds.
    /// @return The decision; Deny beats Permit, no applicable grant is NotApplicable.
    function decide(
        bytes32 patient,
        bytes32 actor,
        uint8 resourceClass,
        uint8 action,
        uint8 purpose,
        uint64 time
    ) external view returns (Decision);

    /// @notice True exactly when `decide` with the same arguments returns Permit.
    /// @param patient The patient key.
    /// @param actor The actor key.
    /// @param resourceClass Bit index in `classes`.
    /// @param action Bit index in `actions`.
    /// @param purpose Bit index in `purposes`.
    /// @param time Unix seconds.
    /// @return Whether the access is permitted.
    function isPermitted(
        bytes32 patient,
        bytes32 actor,
        uint8 resourceClass,
        uint8 action,
        uint8 purpose,
        uint64 time
    ) external view returns (bool);

    /// @notice A grant by id (status None when unknown).
    /// @param grantId The grant id.
    /// @return The stored grant.
    function getGrant(bytes32 grantId) external view returns (Grant memory);

    /// @notice Ids of the active grants of a patient/actor pair (revoked ones are dropped).
    /// @param patient The patient key.
    /// @param actor The actor key (zero for wildcard grants).
    /// @return The grant ids, in no particular order.
    function activeGrantIds(bytes32 patient, bytes32 actor) external view returns (bytes32[] memory);

    /// @notice The account bound to a patient key (zero if none).
    /// @param patient The patient key.
    /// @return The patient's account.
    function patientAccount(bytes32 patient) external view returns (address);

    /// @notice Whether `delegate` may act for `patient`.
    /// @param patient The patient key.
    /// @param delegate The account to check.
    /// @return True if registered by the patient's account.
    function isDelegate(bytes32 patient, address delegate) external view returns (bool);

    /// @notice The next EIP-712 nonce of a patient key (shared by all its signers).
    /// @param patient The patient key.
    /// @return The nonce the next signature must commit to.
    function nonces(bytes32 patient) external view returns (uint256);

    /// @notice Whether custodians may still grant, update and revoke for patients.
    /// @return True while allowed.
    function custodianGrantsAllowed() external view returns (bool);
}
