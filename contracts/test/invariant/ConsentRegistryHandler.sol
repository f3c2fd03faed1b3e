// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Test} from "forge-std/Test.sol";
import {ConsentRegistry} from "../../src/ConsentRegistry.sol";
import {IConsentRegistry} from "../../src/interfaces/IConsentRegistry.sol";

/// @dev Drives the registry with patient-account and patient-signed changes, keeping a plain
/// model of every grant so the invariants can compare the contract's decisions with it.
contract ConsentRegistryHandler is Test {
    ConsentRegistry public immutable registry;

    uint256 public constant PATIENTS = 2;
    uint256 public constant CLASSES = 3;
    uint256 internal constant CLASS_MASK = 7;
    bytes32[3] public actors = [bytes32(0), keccak256("actor-a"), keccak256("actor-b")];

    bytes32[PATIENTS] public patients;
    address[PATIENTS] public accounts;
    uint256[PATIENTS] internal keys;

    bytes32[] public grantIds;
    mapping(bytes32 => IConsentRegistry.GrantTerms) internal model;
    mapping(bytes32 => bool) public revoked;

    mapping(bytes32 patient => uint256) public signedChanges;
    mapping(bytes32 patient => mapping(uint256 nonce => bool)) internal nonceUsed;
    bool public nonceReused;
    bool public replaySucceeded;

    bytes32 internal lastSignedId;
    IConsentRegistry.GrantTerms internal lastSignedTerms;
    bytes internal lastSignature;
    uint256 internal lastDeadline;

    constructor(ConsentRegistry registry_) {
        registry = registry_;
        for (uint256 i = 0; i < PATIENTS; ++i) {
            patients[i] = keccak256(abi.encode("patient", i));
            (accounts[i], keys[i]) = makeAddrAndKey(string.concat("patient-", vm.toString(i)));
        }
    }

    function grantCount() external view returns (uint256) {
        return grantIds.length;
    }

    function terms(bytes32 grantId) external view returns (IConsentRegistry.GrantTerms memory) {
        return model[grantId];
    }

    // ---------------------------------------------------------------- actions

    function grant(uint256 seed) external {
        (uint256 p, IConsentRegistry.GrantTerms memory t) = _randomTerms(seed);
        bytes32 id = keccak256(abi.encode("grant", grantIds.length));
        vm.prank(accounts[p]);
        registry.grant(id, t);
        _record(id, t);
    }

    function grantWithSig(uint256 seed) external {
        (uint256 p, IConsentRegistry.GrantTerms memory t) = _randomTerms(seed);
        bytes32 id = keccak256(abi.encode("grant", grantIds.length));
        uint256 deadline = block.timestamp + 1 hours;
        uint256 nonce = registry.nonces(t.patient);
        bytes memory sig = _sign(keys[p], _grantStructHash(id, t, nonce, deadline));
        registry.grantWithSig(id, t, deadline, sig);
        _consumed(t.patient, nonce);
        _record(id, t);
        (lastSignedId, lastSignedTerms, lastSignature, lastDeadline) = (id, t, sig, deadline);
    }

    function replayLastSignature() external {
        if (lastSignature.length == 0) return;
        try registry.grantWithSig(lastSignedId, lastSignedTerms, lastDeadline, lastSignature) {
            replaySucceeded = true;
        } catch {}
    }

    function update(uint256 index, uint256 seed) external {
        bytes32 id = _pickActive(index);
        if (id == bytes32(0)) return;
        (, IConsentRegistry.GrantTerms memory t) = _randomTerms(seed);
        t.patient = model[id].patient;
        vm.prank(_accountOf(t.patient));
        registry.update(id, t);
        model[id] = t;
    }

    function revoke(uint256 index) external {
        bytes32 id = _pickActive(index);
        if (id == bytes32(0)) return;
        vm.prank(_accountOf(model[id].patient));
        registry.revoke(id);
        revoked[id] = true;
    }

    function revokeWithSig(uint256 index) external {
        bytes32 id = _pickActive(index);
        if (id == bytes32(0)) return;
        bytes32 patient = model[id].patient;
        uint256 nonce = registry.nonces(patient);
        uint256 deadline = block.timestamp + 1 hours;
        bytes32 structHash = keccak256(abi.encode(registry.REVOKE_TYPEHASH(), id, nonce, deadline));
        bytes memory sig = _sign(_keyOf(patient), structHash);
        registry.revokeWithSig(id, deadline, sig);
        _consumed(patient, nonce);
        revoked[id] = true;
    }

    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 1, 3 days));
    }

    // ---------------------------------------------------------------- helpers

    function _randomTerms(uint256 seed)
        internal
        view
        returns (uint256 p, IConsentRegistry.GrantTerms memory t)
    {
        p = seed % PATIENTS;
        uint256 r = uint256(keccak256(abi.encode(seed)));
        t.patient = patients[p];
        t.actor = actors[r % 3];
        t.classes = 1 + (r >> 8) % CLASS_MASK;
        t.actions = uint8(1 + (r >> 16) % 3);
        t.purposes = uint32(1 + (r >> 24) % 3);
        t.validFrom = uint64(block.timestamp - (r >> 32) % 2 days);
        t.validUntil = (r >> 40) % 4 == 0 ? 0 : t.validFrom + 1 + uint64((r >> 48) % 4 days);
        t.effect =
            (r >> 56) % 3 == 0 ? IConsentRegistry.Effect.Deny : IConsentRegistry.Effect.Permit;
        t.consentVersion = bytes32(r);
    }

    function _record(bytes32 id, IConsentRegistry.GrantTerms memory t) internal {
        grantIds.push(id);
        model[id] = t;
    }

    function _consumed(bytes32 patient, uint256 nonce) internal {
        if (nonceUsed[patient][nonce]) nonceReused = true;
        nonceUsed[patient][nonce] = true;
        ++signedChanges[patient];
    }

    function _pickActive(uint256 index) internal view returns (bytes32) {
        uint256 n = grantIds.length;
        for (uint256 i = 0; i < n; ++i) {
            bytes32 id = grantIds[(index % n + i) % n];
            if (!revoked[id]) return id;
        }
        return bytes32(0);
    }

    function _accountOf(bytes32 patient) internal view returns (address) {
        return patient == patients[0] ? accounts[0] : accounts[1];
    }

    function _keyOf(bytes32 patient) internal view returns (uint256) {
        return patient == patients[0] ? keys[0] : keys[1];
    }

    function _grantStructHash(
        bytes32 id,
        IConsentRegistry.GrantTerms memory t,
        uint256 nonce,
        uint256 deadline
    ) internal view returns (bytes32) {
        bytes32 termsHash = keccak256(
            abi.encode(
                keccak256(
                    "GrantTerms(bytes32 patient,bytes32 actor,uint256 classes,uint8 actions,uint32 purposes,uint64 validFrom,uint64 validUntil,uint8 effect,bytes32 consentVersion)"
                ),
                t
            )
        );
        return keccak256(abi.encode(registry.GRANT_TYPEHASH(), id, termsHash, nonce, deadline));
    }

    function _sign(uint256 key, bytes32 structHash) internal view returns (bytes memory) {
        bytes32 digest =
            keccak256(abi.encodePacked("\x19\x01", registry.DOMAIN_SEPARATOR(), structHash));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }
}
