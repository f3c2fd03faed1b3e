// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {IConsentRegistry} from "./interfaces/IConsentRegistry.sol";

/// @title ConsentRegistry
/// @notice Patient consents as grants keyed by salted commitments. See IConsentRegistry for the
/// encoding and the exact decision semantics that `decide` implements and the server mirrors.
/// @dev Who may change a patient's grants: the account bound to the patient key, a delegate
/// that account registered, or (while `custodianGrantsAllowed`) a CUSTODIAN_ROLE holder.
/// Patient-signed changes (EIP-712, domain follows the chain id) let anyone relay a change that
/// only the patient or a delegate could have authorised.
contract ConsentRegistry is IConsentRegistry, AccessControl, EIP712 {
    /// @notice Role of the server's key: binds patient accounts, acts for patients if allowed.
    bytes32 public constant CUSTODIAN_ROLE = keccak256("CUSTODIAN_ROLE");

    /// @notice Bound on active grants per patient/actor pair, which bounds `decide`'s gas.
    uint256 public constant MAX_ACTIVE_GRANTS_PER_PAIR = 32;

    /// @notice Action bits (`actions`): read and write.
    uint8 public constant ACTIONS_ALL = 0x03;

    bytes32 private constant TERMS_TYPE = keccak256(
        "GrantTerms(bytes32 patient,bytes32 actor,uint256 classes,uint8 actions,uint32 purposes,"
        "uint64 validFrom,uint64 validUntil,uint8 effect,bytes32 consentVersion)"
    );

    /// @notice EIP-712 type hash of a patient-signed grant.
    bytes32 public constant GRANT_TYPEHASH = keccak256(
        "Grant(bytes32 grantId,GrantTerms terms,uint256 nonce,uint256 deadline)"
        "GrantTerms(bytes32 patient,bytes32 actor,uint256 classes,uint8 actions,uint32 purposes,"
        "uint64 validFrom,uint64 validUntil,uint8 effect,bytes32 consentVersion)"
    );

    /// @notice EIP-712 type hash of a patient-signed update.
    bytes32 public constant UPDATE_TYPEHASH = keccak256(
        "Update(bytes32 grantId,GrantTerms terms,uint256 nonce,uint256 deadline)"
        "GrantTerms(bytes32 patient,bytes32 actor,uint256 classes,uint8 actions,uint32 purposes,"
        "uint64 validFrom,uint64 validUntil,uint8 effect,bytes32 consentVersion)"
    );

    /// @notice EIP-712 type hash of a patient-signed revocation.
    bytes32 public constant REVOKE_TYPEHASH =
        keccak256("Revoke(bytes32 grantId,uint256 nonce,uint256 deadline)");

    /// @dev Flat layout so a grant takes five slots, not six (terms struct + status).
    struct StoredGrant {
        bytes32 patient;
        bytes32 actor;
        uint256 classes;
        bytes32 consentVersion;
        uint8 actions;
        uint32 purposes;
        uint64 validFrom;
        uint64 validUntil;
        Effect effect;
        Status status;
    }

    mapping(bytes32 grantId => StoredGrant) private _grants;
    mapping(bytes32 pair => bytes32[]) private _activeByPair;
    mapping(bytes32 patient => address) private _patientAccounts;
    mapping(bytes32 patient => mapping(address => bool)) private _delegates;
    mapping(bytes32 patient => uint256) private _nonces;
    bool private _custodianGrantsAllowed;

    /// @param admin Holder of DEFAULT_ADMIN_ROLE (grants roles, may disable custodian grants).
    /// @param custodian Initial CUSTODIAN_ROLE holder (the server's key), or zero for none.
    /// @param allowCustodianGrants Whether custodians may act for patients; can only be
    /// switched off later. Deploy with false (and renounce admin) so the operator can never
    /// write a grant the patient did not authorise.
    constructor(address admin, address custodian, bool allowCustodianGrants)
        EIP712("ConsentRegistry", "1")
    {
        if (admin == address(0)) revert ConsentRegistryZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        if (custodian != address(0)) _grantRole(CUSTODIAN_ROLE, custodian);
        _custodianGrantsAllowed = allowCustodianGrants;
    }

    /// @inheritdoc IConsentRegistry
    function grant(bytes32 grantId, GrantTerms calldata terms) external {
        _authorize(terms.patient, msg.sender, true);
        _create(grantId, terms, msg.sender);
    }

    /// @inheritdoc IConsentRegistry
    function grantWithSig(
        bytes32 grantId,
        GrantTerms calldata terms,
        uint256 deadline,
        bytes calldata signature
    ) external {
        bytes32 structHash = keccak256(
            abi.encode(
                GRANT_TYPEHASH, grantId, _hashTerms(terms), _useNonce(terms.patient), deadline
            )
        );
        address signer = _verifySig(terms.patient, structHash, deadline, signature);
        _create(grantId, terms, signer);
    }

    /// @inheritdoc IConsentRegistry
    function update(bytes32 grantId, GrantTerms calldata terms) external {
        _authorize(_requireActive(grantId).patient, msg.sender, true);
        _update(grantId, terms, msg.sender);
    }

    /// @inheritdoc IConsentRegistry
    function updateWithSig(
        bytes32 grantId,
        GrantTerms calldata terms,
        uint256 deadline,
        bytes calldata signature
    ) external {
        bytes32 patient = _requireActive(grantId).patient;
        bytes32 structHash = keccak256(
            abi.encode(UPDATE_TYPEHASH, grantId, _hashTerms(terms), _useNonce(patient), deadline)
        );
        address signer = _verifySig(patient, structHash, deadline, signature);
        _update(grantId, terms, signer);
    }

    /// @inheritdoc IConsentRegistry
    function revoke(bytes32 grantId) external {
        _authorize(_requireActive(grantId).patient, msg.sender, true);
        _revoke(grantId, msg.sender);
    }

    /// @inheritdoc IConsentRegistry
    function revokeWithSig(bytes32 grantId, uint256 deadline, bytes calldata signature) external {
        bytes32 patient = _requireActive(grantId).patient;
        bytes32 structHash =
            keccak256(abi.encode(REVOKE_TYPEHASH, grantId, _useNonce(patient), deadline));
        address signer = _verifySig(patient, structHash, deadline, signature);
        _revoke(grantId, signer);
    }

    /// @inheritdoc IConsentRegistry
    function bindPatientAccount(bytes32 patient, address account)
        external
        onlyRole(CUSTODIAN_ROLE)
    {
        if (patient == bytes32(0)) revert ConsentRegistryZeroKey();
        if (account == address(0)) revert ConsentRegistryZeroAddress();
        address current = _patientAccounts[patient];
        if (current != address(0)) revert ConsentRegistryPatientAlreadyBound(patient, current);
        _patientAccounts[patient] = account;
        emit PatientAccountBound(patient, account);
    }

    /// @inheritdoc IConsentRegistry
    function transferPatientAccount(bytes32 patient, address account) external {
        address current = _patientAccounts[patient];
        if (current == address(0) || msg.sender != current) {
            revert ConsentRegistryUnauthorized(msg.sender, patient);
        }
        if (account == address(0)) revert ConsentRegistryZeroAddress();
        _patientAccounts[patient] = account;
        emit PatientAccountTransferred(patient, current, account);
    }

    /// @inheritdoc IConsentRegistry
    function setDelegate(bytes32 patient, address delegate, bool allowed) external {
        address current = _patientAccounts[patient];
        if (current == address(0) || msg.sender != current) {
            revert ConsentRegistryUnauthorized(msg.sender, patient);
        }
        if (delegate == address(0)) revert ConsentRegistryZeroAddress();
        _delegates[patient][delegate] = allowed;
        emit DelegateChanged(patient, delegate, allowed);
    }

    /// @inheritdoc IConsentRegistry
    function disableCustodianGrants() external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (!_custodianGrantsAllowed) return;
        _custodianGrantsAllowed = false;
        emit CustodianGrantsDisabled();
    }

    /// @inheritdoc IConsentRegistry
    function decide(
        bytes32 patient,
        bytes32 actor,
        uint8 resourceClass,
        uint8 action,
        uint8 purpose,
        uint64 time
    ) public view returns (Decision) {
        Decision own = _decidePair(_pair(patient, actor), resourceClass, action, purpose, time);
        if (own == Decision.Deny || actor == bytes32(0)) return own;
        Decision wildcard =
            _decidePair(_pair(patient, bytes32(0)), resourceClass, action, purpose, time);
        if (wildcard == Decision.NotApplicable) return own;
        return wildcard;
    }

    /// @inheritdoc IConsentRegistry
    function isPermitted(
        bytes32 patient,
        bytes32 actor,
        uint8 resourceClass,
        uint8 action,
        uint8 purpose,
        uint64 time
    ) external view returns (bool) {
        return decide(patient, actor, resourceClass, action, purpose, time) == Decision.Permit;
    }

    /// @inheritdoc IConsentRegistry
    function getGrant(bytes32 grantId) external view returns (Grant memory) {
        StoredGrant storage g = _grants[grantId];
        return Grant({
            terms: GrantTerms({
                patient: g.patient,
                actor: g.actor,
                classes: g.classes,
                actions: g.actions,
                purposes: g.purposes,
                validFrom: g.validFrom,
                validUntil: g.validUntil,
                effect: g.effect,
                consentVersion: g.consentVersion
            }),
            status: g.status
        });
    }

    /// @inheritdoc IConsentRegistry
    function activeGrantIds(bytes32 patient, bytes32 actor)
        external
        view
        returns (bytes32[] memory)
    {
        return _activeByPair[_pair(patient, actor)];
    }

    /// @inheritdoc IConsentRegistry
    function patientAccount(bytes32 patient) external view returns (address) {
        return _patientAccounts[patient];
    }

    /// @inheritdoc IConsentRegistry
    function isDelegate(bytes32 patient, address delegate) external view returns (bool) {
        return _delegates[patient][delegate];
    }

    /// @inheritdoc IConsentRegistry
    function nonces(bytes32 patient) external view returns (uint256) {
        return _nonces[patient];
    }

    /// @inheritdoc IConsentRegistry
    function custodianGrantsAllowed() external view returns (bool) {
        return _custodianGrantsAllowed;
    }

    /// @notice The EIP-712 domain separator for the current chain id.
    /// @return The domain separator.
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    function _create(bytes32 grantId, GrantTerms calldata terms, address by) private {
        if (grantId == bytes32(0)) revert ConsentRegistryZeroKey();
        if (_grants[grantId].status != Status.None) revert ConsentRegistryGrantExists(grantId);
        _validate(terms);
        _store(grantId, terms, Status.Active);
        _addToPair(grantId, terms.patient, terms.actor);
        emit GrantCreated(grantId, terms.patient, terms.actor, terms, by);
    }

    function _update(bytes32 grantId, GrantTerms calldata terms, address by) private {
        StoredGrant storage g = _requireActive(grantId);
        if (terms.patient != g.patient) revert ConsentRegistryPatientChanged(grantId);
        _validate(terms);
        bytes32 previousActor = g.actor;
        _store(grantId, terms, Status.Active);
        if (terms.actor != previousActor) {
            _removeFromPair(grantId, terms.patient, previousActor);
            _addToPair(grantId, terms.patient, terms.actor);
        }
        emit GrantUpdated(grantId, terms.patient, terms.actor, terms, by);
    }

    function _revoke(bytes32 grantId, address by) private {
        StoredGrant storage g = _requireActive(grantId);
        g.status = Status.Revoked;
        (bytes32 patient, bytes32 actor) = (g.patient, g.actor);
        _removeFromPair(grantId, patient, actor);
        emit GrantRevoked(grantId, patient, actor, by);
    }

    function _requireActive(bytes32 grantId) private view returns (StoredGrant storage g) {
        g = _grants[grantId];
        if (g.status == Status.None) revert ConsentRegistryGrantNotFound(grantId);
        if (g.status == Status.Revoked) revert ConsentRegistryGrantRevoked(grantId);
    }

    function _store(bytes32 grantId, GrantTerms calldata terms, Status status) private {
        _grants[grantId] = StoredGrant({
            patient: terms.patient,
            actor: terms.actor,
            classes: terms.classes,
            consentVersion: terms.consentVersion,
            actions: terms.actions,
            purposes: terms.purposes,
            validFrom: terms.validFrom,
            validUntil: terms.validUntil,
            effect: terms.effect,
            status: status
        });
    }

    function _addToPair(bytes32 grantId, bytes32 patient, bytes32 actor) private {
        bytes32[] storage ids = _activeByPair[_pair(patient, actor)];
        if (ids.length >= MAX_ACTIVE_GRANTS_PER_PAIR) {
            revert ConsentRegistryTooManyGrants(patient, actor);
        }
        ids.push(grantId);
    }

    function _removeFromPair(bytes32 grantId, bytes32 patient, bytes32 actor) private {
        bytes32[] storage ids = _activeByPair[_pair(patient, actor)];
        uint256 last = ids.length - 1;
        for (uint256 i = 0; i <= last; ++i) {
            if (ids[i] == grantId) {
                if (i != last) ids[i] = ids[last];
                ids.pop();
                return;
            }
        }
    }

    function _decidePair(
        bytes32 pair,
        uint8 resourceClass,
        uint8 action,
        uint8 purpose,
        uint64 time
    ) private view returns (Decision decision) {
        bytes32[] storage ids = _activeByPair[pair];
        uint256 length = ids.length;
        for (uint256 i = 0; i < length; ++i) {
            StoredGrant storage g = _grants[ids[i]];
            if (time < g.validFrom || (g.validUntil != 0 && time >= g.validUntil)) continue;
            if ((g.classes >> resourceClass) & 1 == 0) continue;
            if ((uint256(g.actions) >> action) & 1 == 0) continue;
            if ((uint256(g.purposes) >> purpose) & 1 == 0) continue;
            if (g.effect == Effect.Deny) return Decision.Deny;
            decision = Decision.Permit;
        }
    }

    function _validate(GrantTerms calldata terms) private pure {
        if (terms.patient == bytes32(0)) revert ConsentRegistryZeroKey();
        if (
            terms.classes == 0 || terms.actions == 0 || terms.actions & ~ACTIONS_ALL != 0
                || terms.purposes == 0
        ) revert ConsentRegistryInvalidScope();
        if (terms.validUntil != 0 && terms.validUntil <= terms.validFrom) {
            revert ConsentRegistryInvalidPeriod(terms.validFrom, terms.validUntil);
        }
    }

    /// @dev `allowCustodian` is false for signatures: a custodian's signature proves nothing
    /// a custodian's transaction would not.
    function _authorize(bytes32 patient, address account, bool allowCustodian) private view {
        if (
            account != address(0)
                && (account == _patientAccounts[patient] || _delegates[patient][account])
        ) return;
        if (allowCustodian && _custodianGrantsAllowed && hasRole(CUSTODIAN_ROLE, account)) {
            return;
        }
        revert ConsentRegistryUnauthorized(account, patient);
    }

    function _verifySig(
        bytes32 patient,
        bytes32 structHash,
        uint256 deadline,
        bytes calldata signature
    ) private view returns (address signer) {
        // forge-lint: disable-next-line(block-timestamp)
        if (block.timestamp > deadline) revert ConsentRegistryExpiredSignature(deadline);
        // OpenZeppelin's recover rejects high-s and malformed signatures.
        signer = ECDSA.recover(_hashTypedDataV4(structHash), signature);
        _authorize(patient, signer, false);
    }

    function _useNonce(bytes32 patient) private returns (uint256) {
        unchecked {
            return _nonces[patient]++;
        }
    }

    function _hashTerms(GrantTerms calldata terms) private pure returns (bytes32) {
        return keccak256(abi.encode(TERMS_TYPE, terms));
    }

    function _pair(bytes32 patient, bytes32 actor) private pure returns (bytes32) {
        return keccak256(abi.encode(patient, actor));
    }
}
