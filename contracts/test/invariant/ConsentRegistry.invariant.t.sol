// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Test} from "forge-std/Test.sol";
import {ConsentRegistry} from "../../src/ConsentRegistry.sol";
import {IConsentRegistry} from "../../src/interfaces/IConsentRegistry.sol";
import {ConsentRegistryHandler} from "./ConsentRegistryHandler.sol";

contract ConsentRegistryInvariantTest is Test {
    ConsentRegistry internal registry;
    ConsentRegistryHandler internal handler;

    function setUp() public {
        vm.warp(1_700_000_000);
        address custodian = makeAddr("custodian");
        registry = new ConsentRegistry(address(this), custodian, false);
        handler = new ConsentRegistryHandler(registry);
        for (uint256 i = 0; i < handler.PATIENTS(); ++i) {
            (bytes32 patient, address account) = (handler.patients(i), handler.accounts(i));
            vm.prank(custodian);
            registry.bindPatientAccount(patient, account);
        }
        bytes4[] memory selectors = new bytes4[](7);
        selectors[0] = handler.grant.selector;
        selectors[1] = handler.grantWithSig.selector;
        selectors[2] = handler.replayLastSignature.selector;
        selectors[3] = handler.update.selector;
        selectors[4] = handler.revoke.selector;
        selectors[5] = handler.revokeWithSig.selector;
        selectors[6] = handler.warp.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
        targetContract(address(handler));
    }

    /// A revoked grant is gone for good: never active, never listed, never counted.
    function invariant_revokedGrantNeverPermits() public view {
        uint256 n = handler.grantCount();
        for (uint256 i = 0; i < n; ++i) {
            bytes32 id = handler.grantIds(i);
            if (!handler.revoked(id)) continue;
            assertEq(uint8(registry.getGrant(id).status), uint8(IConsentRegistry.Status.Revoked));
            IConsentRegistry.GrantTerms memory t = handler.terms(id);
            bytes32[] memory active = registry.activeGrantIds(t.patient, t.actor);
            for (uint256 j = 0; j < active.length; ++j) {
                assertTrue(active[j] != id, "revoked grant still active");
            }
        }
    }

    /// Every decision equals the documented semantics over the model's unrevoked grants,
    /// so a revoked (or expired) grant can never be what permits.
    function invariant_decisionsMatchModel() public view {
        uint64 time = uint64(block.timestamp);
        for (uint256 p = 0; p < handler.PATIENTS(); ++p) {
            for (uint256 a = 0; a < 3; ++a) {
                for (uint8 c = 0; c < handler.CLASSES(); ++c) {
                    for (uint8 x = 0; x < 2; ++x) {
                        for (uint8 u = 0; u < 2; ++u) {
                            _checkDecision(handler.patients(p), handler.actors(a), c, x, u, time);
                        }
                    }
                }
            }
        }
    }

    /// Each signature nonce is consumed once and a consumed signature never works again.
    function invariant_nonceNeverUsedTwice() public view {
        assertFalse(handler.nonceReused());
        assertFalse(handler.replaySucceeded());
        for (uint256 p = 0; p < handler.PATIENTS(); ++p) {
            bytes32 patient = handler.patients(p);
            assertEq(registry.nonces(patient), handler.signedChanges(patient));
        }
    }

    function _checkDecision(
        bytes32 patient,
        bytes32 actor,
        uint8 resourceClass,
        uint8 action,
        uint8 purpose,
        uint64 time
    ) internal view {
        IConsentRegistry.Decision expected = IConsentRegistry.Decision.NotApplicable;
        uint256 n = handler.grantCount();
        for (uint256 i = 0; i < n; ++i) {
            bytes32 id = handler.grantIds(i);
            if (handler.revoked(id)) continue;
            IConsentRegistry.GrantTerms memory g = handler.terms(id);
            if (g.patient != patient || (g.actor != actor && g.actor != bytes32(0))) continue;
            if (time < g.validFrom || (g.validUntil != 0 && time >= g.validUntil)) continue;
            if ((g.classes >> resourceClass) & 1 == 0) continue;
            if ((g.actions >> action) & 1 == 0 || (g.purposes >> purpose) & 1 == 0) continue;
            if (g.effect == IConsentRegistry.Effect.Deny) {
                expected = IConsentRegistry.Decision.Deny;
            } else if (expected == IConsentRegistry.Decision.NotApplicable) {
                expected = IConsentRegistry.Decision.Permit;
            }
        }
        assertEq(
            uint8(registry.decide(patient, actor, resourceClass, action, purpose, time)),
            uint8(expected)
        );
    }
}
