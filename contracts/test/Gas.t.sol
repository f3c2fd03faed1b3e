// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ProvenanceAnchor} from "../src/ProvenanceAnchor.sol";
import {IConsentRegistry} from "../src/interfaces/IConsentRegistry.sol";
import {ConsentFixture} from "./utils/ConsentFixture.sol";

/// @dev One call per test with everything prepared in setUp, so each `.gas-snapshot` line is
/// the cost of that one operation (plus the test call's own small overhead).
contract GasTest is ConsentFixture {
    ProvenanceAnchor internal anchor;
    IConsentRegistry.GrantTerms internal terms;
    bytes internal grantSig;
    bytes32 internal constant ACTIVE_ID = keccak256("active");

    function setUp() public override {
        super.setUp();
        anchor = new ProvenanceAnchor(admin, address(this));
        anchor.anchor(keccak256("warm-root"), 1, keccak256("warm-batch"));
        terms = _permit();
        grantSig = _sign(
            patientKey, _grantDigest(_domain(), GRANT_ID, terms, 0, block.timestamp + 1 hours)
        );
        vm.startPrank(patientAccount);
        registry.grant(ACTIVE_ID, terms);
        registry.grant(keccak256("deny"), _terms(PATIENT, ANY_ACTOR, IConsentRegistry.Effect.Deny));
        vm.stopPrank();
    }

    function test_gas_grant() public {
        vm.prank(patientAccount);
        registry.grant(GRANT_ID, terms);
    }

    function test_gas_grantWithSig() public {
        registry.grantWithSig(GRANT_ID, terms, block.timestamp + 1 hours, grantSig);
    }

    function test_gas_update() public {
        IConsentRegistry.GrantTerms memory t = terms;
        t.actions = 0x03;
        vm.prank(patientAccount);
        registry.update(ACTIVE_ID, t);
    }

    function test_gas_revoke() public {
        vm.prank(patientAccount);
        registry.revoke(ACTIVE_ID);
    }

    function test_gas_decide() public view {
        registry.decide(PATIENT, ACTOR, OBSERVATION, READ, TREAT, uint64(block.timestamp));
    }

    function test_gas_anchor() public {
        anchor.anchor(keccak256("root"), 512, keccak256("batch"));
    }
}
