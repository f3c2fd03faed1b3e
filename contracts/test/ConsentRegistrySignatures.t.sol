// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {ConsentRegistry} from "../src/ConsentRegistry.sol";
import {IConsentRegistry} from "../src/interfaces/IConsentRegistry.sol";
import {ConsentFixture} from "./utils/ConsentFixture.sol";

contract ConsentRegistrySignaturesTest is ConsentFixture {
    /// secp256k1 group order: s and n - s both verify, only the low one is canonical.
    uint256 internal constant N =
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    address internal relayer = makeAddr("relayer");
    uint256 internal deadline;

    function setUp() public override {
        super.setUp();
        deadline = block.timestamp + 1 hours;
    }

    function _signGrant(uint256 key, bytes32 grantId, IConsentRegistry.GrantTerms memory t)
        internal
        view
        returns (bytes memory)
    {
        return _sign(key, _grantDigest(_domain(), grantId, t, registry.nonces(t.patient), deadline));
    }

    function _unauthorized(address signer) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(
            IConsentRegistry.ConsentRegistryUnauthorized.selector, signer, PATIENT
        );
    }

    // ---------------------------------------------------------------- grantWithSig

    function test_grantWithSig_relayedByAnyone() public {
        bytes memory sig = _signGrant(patientKey, GRANT_ID, _permit());
        vm.expectEmit(address(registry));
        emit IConsentRegistry.GrantCreated(GRANT_ID, PATIENT, ACTOR, _permit(), patientAccount);
        vm.prank(relayer);
        registry.grantWithSig(GRANT_ID, _permit(), deadline, sig);
        assertEq(registry.nonces(PATIENT), 1);
        assertEq(
            uint8(_decide(ACTOR, OBSERVATION, READ, TREAT)), uint8(IConsentRegistry.Decision.Permit)
        );
    }

    function test_grantWithSig_byDelegate() public {
        (address proxy, uint256 proxyKey) = makeAddrAndKey("signing-proxy");
        vm.prank(patientAccount);
        registry.setDelegate(PATIENT, proxy, true);
        bytes memory sig = _signGrant(proxyKey, GRANT_ID, _permit());
        vm.expectEmit(address(registry));
        emit IConsentRegistry.GrantCreated(GRANT_ID, PATIENT, ACTOR, _permit(), proxy);
        registry.grantWithSig(GRANT_ID, _permit(), deadline, sig);
    }

    function test_grantWithSig_acceptsDeadlineSecond() public {
        IConsentRegistry.GrantTerms memory t = _permit();
        bytes memory sig = _signGrant(patientKey, GRANT_ID, t);
        vm.warp(deadline);
        registry.grantWithSig(GRANT_ID, t, deadline, sig);
        assertEq(registry.nonces(PATIENT), 1);
    }

    function test_RevertWhen_grantWithSigExpired() public {
        IConsentRegistry.GrantTerms memory t = _permit();
        bytes memory sig = _signGrant(patientKey, GRANT_ID, t);
        vm.warp(deadline + 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistryExpiredSignature.selector, deadline
            )
        );
        registry.grantWithSig(GRANT_ID, t, deadline, sig);
    }

    function test_RevertWhen_grantWithSigReplayed() public {
        bytes memory sig = _signGrant(patientKey, GRANT_ID, _permit());
        registry.grantWithSig(GRANT_ID, _permit(), deadline, sig);
        // Same id: the nonce is gone, so the digest recovers to some other address.
        vm.expectPartialRevert(IConsentRegistry.ConsentRegistryUnauthorized.selector);
        registry.grantWithSig(GRANT_ID, _permit(), deadline, sig);
    }

    function test_RevertWhen_grantWithSigReplayedAfterRevoke() public {
        bytes memory sig = _signGrant(patientKey, GRANT_ID, _permit());
        registry.grantWithSig(GRANT_ID, _permit(), deadline, sig);
        vm.prank(patientAccount);
        registry.revoke(GRANT_ID);

        vm.expectPartialRevert(IConsentRegistry.ConsentRegistryUnauthorized.selector);
        registry.grantWithSig(GRANT_ID, _permit(), deadline, sig);
        assertFalse(
            registry.isPermitted(PATIENT, ACTOR, OBSERVATION, READ, TREAT, uint64(block.timestamp))
        );
    }

    function test_RevertWhen_grantWithSigForAnotherChain() public {
        bytes32 foreignDomain = _domainSeparator(block.chainid + 1, address(registry));
        bytes memory sig =
            _sign(patientKey, _grantDigest(foreignDomain, GRANT_ID, _permit(), 0, deadline));
        vm.expectPartialRevert(IConsentRegistry.ConsentRegistryUnauthorized.selector);
        registry.grantWithSig(GRANT_ID, _permit(), deadline, sig);
    }

    function test_RevertWhen_grantWithSigAfterChainIdChanged() public {
        bytes memory sig = _signGrant(patientKey, GRANT_ID, _permit());
        // A fork of the chain: the domain follows block.chainid, so the signature is void.
        vm.chainId(block.chainid + 7);
        vm.expectPartialRevert(IConsentRegistry.ConsentRegistryUnauthorized.selector);
        registry.grantWithSig(GRANT_ID, _permit(), deadline, sig);
    }

    function test_RevertWhen_grantWithSigForAnotherContract() public {
        ConsentRegistry other = new ConsentRegistry(admin, custodian, true);
        vm.prank(custodian);
        other.bindPatientAccount(PATIENT, patientAccount);
        bytes memory sig = _signGrant(patientKey, GRANT_ID, _permit());
        vm.expectPartialRevert(IConsentRegistry.ConsentRegistryUnauthorized.selector);
        other.grantWithSig(GRANT_ID, _permit(), deadline, sig);
    }

    function test_RevertWhen_grantWithSigHighS() public {
        bytes32 digest = _grantDigest(_domain(), GRANT_ID, _permit(), 0, deadline);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(patientKey, digest);
        bytes32 highS = bytes32(N - uint256(s));
        uint8 flippedV = v == 27 ? 28 : 27;
        // The malleable twin really is a valid secp256k1 signature by the patient ...
        assertEq(ecrecover(digest, flippedV, r, highS), patientAccount);
        // ... and the registry refuses it.
        vm.expectRevert(abi.encodeWithSelector(ECDSA.ECDSAInvalidSignatureS.selector, highS));
        registry.grantWithSig(GRANT_ID, _permit(), deadline, abi.encodePacked(r, highS, flippedV));
    }

    function test_RevertWhen_grantWithSigMalformed() public {
        vm.expectRevert(abi.encodeWithSelector(ECDSA.ECDSAInvalidSignatureLength.selector, 64));
        registry.grantWithSig(GRANT_ID, _permit(), deadline, new bytes(64));
        vm.expectRevert(ECDSA.ECDSAInvalidSignature.selector);
        registry.grantWithSig(GRANT_ID, _permit(), deadline, new bytes(65));
    }

    function test_RevertWhen_grantWithSigTermsTampered() public {
        bytes memory sig = _signGrant(patientKey, GRANT_ID, _permit());
        IConsentRegistry.GrantTerms memory t = _permit();
        t.actions = 0x03;
        vm.expectPartialRevert(IConsentRegistry.ConsentRegistryUnauthorized.selector);
        registry.grantWithSig(GRANT_ID, t, deadline, sig);
    }

    function test_RevertWhen_grantWithSigByCustodian() public {
        (address custodianSigner, uint256 custodianKey) = makeAddrAndKey("custodian-signer");
        bytes32 role = registry.CUSTODIAN_ROLE();
        vm.prank(admin);
        registry.grantRole(role, custodianSigner);
        bytes memory sig = _signGrant(custodianKey, GRANT_ID, _permit());
        vm.expectRevert(_unauthorized(custodianSigner));
        registry.grantWithSig(GRANT_ID, _permit(), deadline, sig);
    }

    function test_RevertWhen_grantWithSigByRemovedDelegate() public {
        (address proxy, uint256 proxyKey) = makeAddrAndKey("signing-proxy");
        vm.prank(patientAccount);
        registry.setDelegate(PATIENT, proxy, true);
        bytes memory sig = _signGrant(proxyKey, GRANT_ID, _permit());
        vm.prank(patientAccount);
        registry.setDelegate(PATIENT, proxy, false);
        vm.expectRevert(_unauthorized(proxy));
        registry.grantWithSig(GRANT_ID, _permit(), deadline, sig);
    }

    function test_RevertWhen_grantWithSigByPreviousAccount() public {
        bytes memory sig = _signGrant(patientKey, GRANT_ID, _permit());
        vm.prank(patientAccount);
        registry.transferPatientAccount(PATIENT, makeAddr("new-key"));
        vm.expectRevert(_unauthorized(patientAccount));
        registry.grantWithSig(GRANT_ID, _permit(), deadline, sig);
    }

    function testFuzz_RevertWhen_grantWithSigByStranger(uint256 key) public {
        key = bound(key, 1, N - 1);
        address signer = vm.addr(key);
        vm.assume(signer != patientAccount && signer != delegate);
        bytes memory sig = _signGrant(key, GRANT_ID, _permit());
        vm.expectRevert(_unauthorized(signer));
        registry.grantWithSig(GRANT_ID, _permit(), deadline, sig);
    }

    function testFuzz_grantWithSig_consumesOneNonceEach(uint8 count) public {
        count = uint8(bound(count, 1, 8));
        for (uint256 i = 0; i < count; ++i) {
            bytes32 id = bytes32(i + 1);
            registry.grantWithSig(id, _permit(), deadline, _signGrant(patientKey, id, _permit()));
            assertEq(registry.nonces(PATIENT), i + 1);
        }
    }

    // ---------------------------------------------------------------- updateWithSig

    function test_updateWithSig() public {
        registry.grantWithSig(
            GRANT_ID, _permit(), deadline, _signGrant(patientKey, GRANT_ID, _permit())
        );
        IConsentRegistry.GrantTerms memory t = _permit();
        t.effect = IConsentRegistry.Effect.Deny;
        bytes memory sig = _sign(patientKey, _updateDigest(_domain(), GRANT_ID, t, 1, deadline));
        vm.expectEmit(address(registry));
        emit IConsentRegistry.GrantUpdated(GRANT_ID, PATIENT, ACTOR, t, patientAccount);
        registry.updateWithSig(GRANT_ID, t, deadline, sig);
        assertEq(registry.nonces(PATIENT), 2);
        assertEq(
            uint8(_decide(ACTOR, OBSERVATION, READ, TREAT)), uint8(IConsentRegistry.Decision.Deny)
        );
    }

    function test_RevertWhen_updateWithSigUsesGrantSignature() public {
        // A Grant signature over the same fields must not pass as an Update.
        vm.prank(patientAccount);
        registry.grant(GRANT_ID, _permit());
        bytes memory sig =
            _sign(patientKey, _grantDigest(_domain(), GRANT_ID, _permit(), 0, deadline));
        vm.expectPartialRevert(IConsentRegistry.ConsentRegistryUnauthorized.selector);
        registry.updateWithSig(GRANT_ID, _permit(), deadline, sig);
    }

    function test_RevertWhen_updateWithSigExpired() public {
        IConsentRegistry.GrantTerms memory t = _permit();
        vm.prank(patientAccount);
        registry.grant(GRANT_ID, t);
        bytes memory sig = _sign(patientKey, _updateDigest(_domain(), GRANT_ID, t, 0, deadline));
        vm.warp(deadline + 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistryExpiredSignature.selector, deadline
            )
        );
        registry.updateWithSig(GRANT_ID, t, deadline, sig);
    }

    function test_RevertWhen_updateWithSigUnknownGrant() public {
        bytes memory sig =
            _sign(patientKey, _updateDigest(_domain(), GRANT_ID, _permit(), 0, deadline));
        vm.expectRevert(
            abi.encodeWithSelector(IConsentRegistry.ConsentRegistryGrantNotFound.selector, GRANT_ID)
        );
        registry.updateWithSig(GRANT_ID, _permit(), deadline, sig);
    }

    // ---------------------------------------------------------------- revokeWithSig

    function test_revokeWithSig() public {
        vm.prank(custodian);
        registry.grant(GRANT_ID, _permit());
        bytes memory sig = _sign(patientKey, _revokeDigest(_domain(), GRANT_ID, 0, deadline));
        vm.expectEmit(address(registry));
        emit IConsentRegistry.GrantRevoked(GRANT_ID, PATIENT, ACTOR, patientAccount);
        vm.prank(relayer);
        registry.revokeWithSig(GRANT_ID, deadline, sig);
        assertEq(uint8(registry.getGrant(GRANT_ID).status), uint8(IConsentRegistry.Status.Revoked));
    }

    function test_RevertWhen_revokeWithSigReplayed() public {
        vm.startPrank(patientAccount);
        registry.grant(GRANT_ID, _permit());
        vm.stopPrank();
        bytes memory sig = _sign(patientKey, _revokeDigest(_domain(), GRANT_ID, 0, deadline));
        registry.revokeWithSig(GRANT_ID, deadline, sig);
        vm.expectRevert(
            abi.encodeWithSelector(IConsentRegistry.ConsentRegistryGrantRevoked.selector, GRANT_ID)
        );
        registry.revokeWithSig(GRANT_ID, deadline, sig);
    }

    function test_RevertWhen_revokeWithSigExpired() public {
        vm.prank(patientAccount);
        registry.grant(GRANT_ID, _permit());
        bytes memory sig = _sign(patientKey, _revokeDigest(_domain(), GRANT_ID, 0, deadline));
        vm.warp(deadline + 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistryExpiredSignature.selector, deadline
            )
        );
        registry.revokeWithSig(GRANT_ID, deadline, sig);
    }

    function test_RevertWhen_revokeWithSigByStranger() public {
        vm.prank(patientAccount);
        registry.grant(GRANT_ID, _permit());
        (address other, uint256 otherKey) = makeAddrAndKey("other");
        bytes memory sig = _sign(otherKey, _revokeDigest(_domain(), GRANT_ID, 0, deadline));
        vm.expectRevert(_unauthorized(other));
        registry.revokeWithSig(GRANT_ID, deadline, sig);
    }
}
