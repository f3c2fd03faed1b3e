// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Test} from "forge-std/Test.sol";
import {ConsentRegistry} from "../../src/ConsentRegistry.sol";
import {IConsentRegistry} from "../../src/interfaces/IConsentRegistry.sol";

/// @dev Shared set-up: a registry with custodian grants allowed, one bound patient with a
/// delegate, and helpers that build terms and EIP-712 signatures independently of the contract.
abstract contract ConsentFixture is Test {
    uint8 internal constant READ = 0;
    uint8 internal constant WRITE = 1;
    uint8 internal constant OBSERVATION = 7;
    uint8 internal constant CONDITION = 3;
    uint8 internal constant TREAT = 0;
    uint8 internal constant HRESCH = 4;

    bytes32 internal constant PATIENT = keccak256("salt-1|Patient/p1");
    bytes32 internal constant OTHER_PATIENT = keccak256("salt-2|Patient/p2");
    bytes32 internal constant ACTOR = keccak256("salt-3|Practitioner/dr1");
    bytes32 internal constant OTHER_ACTOR = keccak256("salt-4|Practitioner/dr2");
    bytes32 internal constant ANY_ACTOR = bytes32(0);
    bytes32 internal constant GRANT_ID = keccak256("grant-1");
    bytes32 internal constant CONSENT_V1 = keccak256("Consent/c1/_history/1");

    ConsentRegistry internal registry;
    address internal admin = makeAddr("admin");
    address internal custodian = makeAddr("custodian");
    address internal delegate = makeAddr("delegate");
    address internal stranger = makeAddr("stranger");
    address internal patientAccount;
    uint256 internal patientKey;

    function setUp() public virtual {
        vm.warp(1_700_000_000);
        (patientAccount, patientKey) = makeAddrAndKey("patient");
        registry = new ConsentRegistry(admin, custodian, true);
        vm.prank(custodian);
        registry.bindPatientAccount(PATIENT, patientAccount);
        vm.prank(patientAccount);
        registry.setDelegate(PATIENT, delegate, true);
    }

    function _terms(bytes32 patient, bytes32 actor, IConsentRegistry.Effect effect)
        internal
        view
        returns (IConsentRegistry.GrantTerms memory)
    {
        return IConsentRegistry.GrantTerms({
            patient: patient,
            actor: actor,
            classes: (uint256(1) << OBSERVATION) | (uint256(1) << CONDITION),
            actions: uint8(1) << READ,
            purposes: uint32(1) << TREAT,
            validFrom: uint64(block.timestamp),
            validUntil: uint64(block.timestamp + 365 days),
            effect: effect,
            consentVersion: CONSENT_V1
        });
    }

    function _permit() internal view returns (IConsentRegistry.GrantTerms memory) {
        return _terms(PATIENT, ACTOR, IConsentRegistry.Effect.Permit);
    }

    function _decide(bytes32 actor, uint8 resourceClass, uint8 action, uint8 purpose)
        internal
        view
        returns (IConsentRegistry.Decision)
    {
        return registry.decide(
            PATIENT, actor, resourceClass, action, purpose, uint64(block.timestamp)
        );
    }

    function _domainSeparator(uint256 chainId, address verifyingContract)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(
            abi.encode(
                keccak256(
                    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
                ),
                keccak256("ConsentRegistry"),
                keccak256("1"),
                chainId,
                verifyingContract
            )
        );
    }

    function _termsHash(IConsentRegistry.GrantTerms memory t) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                keccak256(
                    "GrantTerms(bytes32 patient,bytes32 actor,uint256 classes,uint8 actions,uint32 purposes,uint64 validFrom,uint64 validUntil,uint8 effect,bytes32 consentVersion)"
                ),
                t.patient,
                t.actor,
                t.classes,
                t.actions,
                t.purposes,
                t.validFrom,
                t.validUntil,
                uint8(t.effect),
                t.consentVersion
            )
        );
    }

    function _grantDigest(
        bytes32 domain,
        bytes32 grantId,
        IConsentRegistry.GrantTerms memory t,
        uint256 nonce,
        uint256 deadline
    ) internal pure returns (bytes32) {
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256(
                    "Grant(bytes32 grantId,GrantTerms terms,uint256 nonce,uint256 deadline)GrantTerms(bytes32 patient,bytes32 actor,uint256 classes,uint8 actions,uint32 purposes,uint64 validFrom,uint64 validUntil,uint8 effect,bytes32 consentVersion)"
                ),
                grantId,
                _termsHash(t),
                nonce,
                deadline
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", domain, structHash));
    }

    function _updateDigest(
        bytes32 domain,
        bytes32 grantId,
        IConsentRegistry.GrantTerms memory t,
        uint256 nonce,
        uint256 deadline
    ) internal pure returns (bytes32) {
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256(
                    "Update(bytes32 grantId,GrantTerms terms,uint256 nonce,uint256 deadline)GrantTerms(bytes32 patient,bytes32 actor,uint256 classes,uint8 actions,uint32 purposes,uint64 validFrom,uint64 validUntil,uint8 effect,bytes32 consentVersion)"
                ),
                grantId,
                _termsHash(t),
                nonce,
                deadline
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", domain, structHash));
    }

    function _revokeDigest(bytes32 domain, bytes32 grantId, uint256 nonce, uint256 deadline)
        internal
        pure
        returns (bytes32)
    {
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256("Revoke(bytes32 grantId,uint256 nonce,uint256 deadline)"),
                grantId,
                nonce,
                deadline
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", domain, structHash));
    }

    function _sign(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    function _domain() internal view returns (bytes32) {
        return _domainSeparator(block.chainid, address(registry));
    }
}
