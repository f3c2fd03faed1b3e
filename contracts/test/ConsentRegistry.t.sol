// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ConsentRegistry} from "../src/ConsentRegistry.sol";
import {IConsentRegistry} from "../src/interfaces/IConsentRegistry.sol";
import {ConsentFixture} from "./utils/ConsentFixture.sol";

contract ConsentRegistryTest is ConsentFixture {
    // ---------------------------------------------------------------- constructor

    function test_constructor_setsRolesAndPolicy() public view {
        assertTrue(registry.hasRole(registry.DEFAULT_ADMIN_ROLE(), admin));
        assertTrue(registry.hasRole(registry.CUSTODIAN_ROLE(), custodian));
        assertTrue(registry.custodianGrantsAllowed());
    }

    function test_constructor_withoutCustodian() public {
        ConsentRegistry r = new ConsentRegistry(admin, address(0), false);
        assertFalse(r.custodianGrantsAllowed());
        assertFalse(r.hasRole(r.CUSTODIAN_ROLE(), address(0)));
    }

    function test_RevertWhen_constructorAdminIsZero() public {
        vm.expectRevert(IConsentRegistry.ConsentRegistryZeroAddress.selector);
        new ConsentRegistry(address(0), custodian, true);
    }

    // ---------------------------------------------------------------- grant

    function test_grant_byPatientAccount() public {
        IConsentRegistry.GrantTerms memory t = _permit();
        vm.expectEmit(address(registry));
        emit IConsentRegistry.GrantCreated(GRANT_ID, PATIENT, ACTOR, t, patientAccount);
        vm.prank(patientAccount);
        registry.grant(GRANT_ID, t);

        IConsentRegistry.Grant memory g = registry.getGrant(GRANT_ID);
        assertEq(uint8(g.status), uint8(IConsentRegistry.Status.Active));
        assertEq(abi.encode(g.terms), abi.encode(t));
        bytes32[] memory ids = registry.activeGrantIds(PATIENT, ACTOR);
        assertEq(ids.length, 1);
        assertEq(ids[0], GRANT_ID);
        assertTrue(registry.isPermitted(PATIENT, ACTOR, OBSERVATION, READ, TREAT, t.validFrom));
    }

    function test_grant_byDelegate() public {
        vm.expectEmit(address(registry));
        emit IConsentRegistry.GrantCreated(GRANT_ID, PATIENT, ACTOR, _permit(), delegate);
        vm.prank(delegate);
        registry.grant(GRANT_ID, _permit());
        assertEq(
            uint8(_decide(ACTOR, OBSERVATION, READ, TREAT)), uint8(IConsentRegistry.Decision.Permit)
        );
    }

    function test_grant_byCustodianWhenAllowed() public {
        vm.prank(custodian);
        registry.grant(GRANT_ID, _terms(OTHER_PATIENT, ACTOR, IConsentRegistry.Effect.Permit));
        assertTrue(
            registry.isPermitted(
                OTHER_PATIENT, ACTOR, OBSERVATION, READ, TREAT, uint64(block.timestamp)
            )
        );
    }

    function test_RevertWhen_grantByCustodianAfterDisable() public {
        vm.prank(admin);
        registry.disableCustodianGrants();
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistryUnauthorized.selector, custodian, PATIENT
            )
        );
        vm.prank(custodian);
        registry.grant(GRANT_ID, _permit());
    }

    function test_RevertWhen_grantByCustodianInDeploymentWithoutCustodianGrants() public {
        ConsentRegistry r = new ConsentRegistry(admin, custodian, false);
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistryUnauthorized.selector, custodian, PATIENT
            )
        );
        vm.prank(custodian);
        r.grant(GRANT_ID, _permit());
    }

    function test_RevertWhen_grantByStranger() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistryUnauthorized.selector, stranger, PATIENT
            )
        );
        vm.prank(stranger);
        registry.grant(GRANT_ID, _permit());
    }

    function test_RevertWhen_grantForAnotherPatient() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistryUnauthorized.selector, patientAccount, OTHER_PATIENT
            )
        );
        vm.prank(patientAccount);
        registry.grant(GRANT_ID, _terms(OTHER_PATIENT, ACTOR, IConsentRegistry.Effect.Permit));
    }

    function test_RevertWhen_grantIdIsZero() public {
        vm.expectRevert(IConsentRegistry.ConsentRegistryZeroKey.selector);
        vm.prank(patientAccount);
        registry.grant(bytes32(0), _permit());
    }

    function test_RevertWhen_grantPatientIsZero() public {
        vm.expectRevert(IConsentRegistry.ConsentRegistryZeroKey.selector);
        vm.prank(custodian);
        registry.grant(GRANT_ID, _terms(bytes32(0), ACTOR, IConsentRegistry.Effect.Permit));
    }

    function test_RevertWhen_grantIdExists() public {
        vm.startPrank(patientAccount);
        registry.grant(GRANT_ID, _permit());
        vm.expectRevert(
            abi.encodeWithSelector(IConsentRegistry.ConsentRegistryGrantExists.selector, GRANT_ID)
        );
        registry.grant(GRANT_ID, _permit());
    }

    function test_RevertWhen_grantIdReusedAfterRevoke() public {
        vm.startPrank(patientAccount);
        registry.grant(GRANT_ID, _permit());
        registry.revoke(GRANT_ID);
        vm.expectRevert(
            abi.encodeWithSelector(IConsentRegistry.ConsentRegistryGrantExists.selector, GRANT_ID)
        );
        registry.grant(GRANT_ID, _permit());
    }

    function test_RevertWhen_grantScopeInvalid() public {
        IConsentRegistry.GrantTerms memory t = _permit();
        vm.startPrank(patientAccount);

        t.classes = 0;
        vm.expectRevert(IConsentRegistry.ConsentRegistryInvalidScope.selector);
        registry.grant(GRANT_ID, t);

        t = _permit();
        t.actions = 0;
        vm.expectRevert(IConsentRegistry.ConsentRegistryInvalidScope.selector);
        registry.grant(GRANT_ID, t);

        t.actions = 0x04;
        vm.expectRevert(IConsentRegistry.ConsentRegistryInvalidScope.selector);
        registry.grant(GRANT_ID, t);

        t = _permit();
        t.purposes = 0;
        vm.expectRevert(IConsentRegistry.ConsentRegistryInvalidScope.selector);
        registry.grant(GRANT_ID, t);
    }

    function test_RevertWhen_grantPeriodInvalid() public {
        IConsentRegistry.GrantTerms memory t = _permit();
        t.validUntil = t.validFrom;
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistryInvalidPeriod.selector, t.validFrom, t.validUntil
            )
        );
        vm.prank(patientAccount);
        registry.grant(GRANT_ID, t);
    }

    function test_RevertWhen_grantExceedsPairLimit() public {
        uint256 max = registry.MAX_ACTIVE_GRANTS_PER_PAIR();
        vm.startPrank(patientAccount);
        for (uint256 i = 1; i <= max; ++i) {
            registry.grant(bytes32(i), _permit());
        }
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistryTooManyGrants.selector, PATIENT, ACTOR
            )
        );
        registry.grant(bytes32(max + 1), _permit());
        // Revoking frees a slot.
        registry.revoke(bytes32(uint256(1)));
        registry.grant(bytes32(max + 1), _permit());
    }

    function testFuzz_grant_storesTerms(
        bytes32 grantId,
        bytes32 actor,
        uint256 classes,
        uint8 actions,
        uint32 purposes,
        uint64 validFrom,
        uint64 validUntil,
        bool deny,
        bytes32 consentVersion
    ) public {
        vm.assume(grantId != bytes32(0));
        classes = bound(classes, 1, type(uint256).max);
        actions = uint8(bound(actions, 1, 3));
        purposes = uint32(bound(purposes, 1, type(uint32).max));
        validFrom = uint64(bound(validFrom, 0, type(uint64).max - 1));
        if (validUntil != 0) {
            validUntil = uint64(bound(validUntil, validFrom + 1, type(uint64).max));
        }
        IConsentRegistry.GrantTerms memory t = IConsentRegistry.GrantTerms({
            patient: PATIENT,
            actor: actor,
            classes: classes,
            actions: actions,
            purposes: purposes,
            validFrom: validFrom,
            validUntil: validUntil,
            effect: deny ? IConsentRegistry.Effect.Deny : IConsentRegistry.Effect.Permit,
            consentVersion: consentVersion
        });
        vm.prank(delegate);
        registry.grant(grantId, t);
        assertEq(abi.encode(registry.getGrant(grantId).terms), abi.encode(t));
        assertEq(registry.activeGrantIds(PATIENT, actor)[0], grantId);
    }

    function testFuzz_RevertWhen_grantByUnauthorized(address caller) public {
        vm.assume(caller != patientAccount && caller != delegate && caller != custodian);
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistryUnauthorized.selector, caller, PATIENT
            )
        );
        vm.prank(caller);
        registry.grant(GRANT_ID, _permit());
    }

    // ---------------------------------------------------------------- update

    function test_update_replacesTerms() public {
        vm.startPrank(patientAccount);
        registry.grant(GRANT_ID, _permit());
        IConsentRegistry.GrantTerms memory t = _permit();
        t.actions = 0x03;
        t.consentVersion = keccak256("Consent/c1/_history/2");
        vm.expectEmit(address(registry));
        emit IConsentRegistry.GrantUpdated(GRANT_ID, PATIENT, ACTOR, t, patientAccount);
        registry.update(GRANT_ID, t);
        assertEq(abi.encode(registry.getGrant(GRANT_ID).terms), abi.encode(t));
        assertEq(
            uint8(_decide(ACTOR, OBSERVATION, WRITE, TREAT)),
            uint8(IConsentRegistry.Decision.Permit)
        );
    }

    function test_update_movesGrantToNewActor() public {
        vm.startPrank(patientAccount);
        registry.grant(GRANT_ID, _permit());
        registry.grant(keccak256("grant-2"), _permit());
        IConsentRegistry.GrantTerms memory t = _permit();
        t.actor = OTHER_ACTOR;
        registry.update(GRANT_ID, t);
        assertEq(registry.activeGrantIds(PATIENT, ACTOR).length, 1);
        assertEq(registry.activeGrantIds(PATIENT, ACTOR)[0], keccak256("grant-2"));
        assertEq(registry.activeGrantIds(PATIENT, OTHER_ACTOR)[0], GRANT_ID);
        assertEq(
            uint8(_decide(OTHER_ACTOR, OBSERVATION, READ, TREAT)),
            uint8(IConsentRegistry.Decision.Permit)
        );
    }

    function test_update_byCustodian() public {
        vm.prank(patientAccount);
        registry.grant(GRANT_ID, _permit());
        IConsentRegistry.GrantTerms memory t = _permit();
        t.effect = IConsentRegistry.Effect.Deny;
        vm.prank(custodian);
        registry.update(GRANT_ID, t);
        assertEq(
            uint8(_decide(ACTOR, OBSERVATION, READ, TREAT)), uint8(IConsentRegistry.Decision.Deny)
        );
    }

    function test_RevertWhen_updateUnknownGrant() public {
        vm.expectRevert(
            abi.encodeWithSelector(IConsentRegistry.ConsentRegistryGrantNotFound.selector, GRANT_ID)
        );
        vm.prank(patientAccount);
        registry.update(GRANT_ID, _permit());
    }

    function test_RevertWhen_updateRevokedGrant() public {
        vm.startPrank(patientAccount);
        registry.grant(GRANT_ID, _permit());
        registry.revoke(GRANT_ID);
        vm.expectRevert(
            abi.encodeWithSelector(IConsentRegistry.ConsentRegistryGrantRevoked.selector, GRANT_ID)
        );
        registry.update(GRANT_ID, _permit());
    }

    function test_RevertWhen_updateChangesPatient() public {
        vm.prank(custodian);
        registry.grant(GRANT_ID, _permit());
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistryPatientChanged.selector, GRANT_ID
            )
        );
        vm.prank(custodian);
        registry.update(GRANT_ID, _terms(OTHER_PATIENT, ACTOR, IConsentRegistry.Effect.Permit));
    }

    function test_RevertWhen_updateByStranger() public {
        vm.prank(patientAccount);
        registry.grant(GRANT_ID, _permit());
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistryUnauthorized.selector, stranger, PATIENT
            )
        );
        vm.prank(stranger);
        registry.update(GRANT_ID, _permit());
    }

    function test_RevertWhen_updateTermsInvalid() public {
        vm.startPrank(patientAccount);
        registry.grant(GRANT_ID, _permit());
        IConsentRegistry.GrantTerms memory t = _permit();
        t.purposes = 0;
        vm.expectRevert(IConsentRegistry.ConsentRegistryInvalidScope.selector);
        registry.update(GRANT_ID, t);
    }

    function testFuzz_update_keepsOneActiveEntry(bytes32 newActor, uint8 actions) public {
        vm.startPrank(patientAccount);
        registry.grant(GRANT_ID, _permit());
        IConsentRegistry.GrantTerms memory t = _permit();
        t.actor = newActor;
        t.actions = uint8(bound(actions, 1, 3));
        registry.update(GRANT_ID, t);
        assertEq(registry.activeGrantIds(PATIENT, newActor).length, 1);
        if (newActor != ACTOR) assertEq(registry.activeGrantIds(PATIENT, ACTOR).length, 0);
        assertEq(abi.encode(registry.getGrant(GRANT_ID).terms), abi.encode(t));
    }

    // ---------------------------------------------------------------- revoke

    function test_revoke_stopsPermitting() public {
        vm.startPrank(patientAccount);
        registry.grant(GRANT_ID, _permit());
        vm.expectEmit(address(registry));
        emit IConsentRegistry.GrantRevoked(GRANT_ID, PATIENT, ACTOR, patientAccount);
        registry.revoke(GRANT_ID);
        assertEq(uint8(registry.getGrant(GRANT_ID).status), uint8(IConsentRegistry.Status.Revoked));
        assertEq(registry.activeGrantIds(PATIENT, ACTOR).length, 0);
        assertEq(
            uint8(_decide(ACTOR, OBSERVATION, READ, TREAT)),
            uint8(IConsentRegistry.Decision.NotApplicable)
        );
    }

    function test_revoke_keepsOtherGrantsOfPair() public {
        vm.startPrank(patientAccount);
        for (uint256 i = 1; i <= 3; ++i) {
            registry.grant(bytes32(i), _permit());
        }
        registry.revoke(bytes32(uint256(1)));
        bytes32[] memory ids = registry.activeGrantIds(PATIENT, ACTOR);
        assertEq(ids.length, 2);
        assertEq(ids[0], bytes32(uint256(3)));
        assertEq(ids[1], bytes32(uint256(2)));
    }

    function test_revoke_denyLiftsDenial() public {
        vm.startPrank(patientAccount);
        registry.grant(GRANT_ID, _permit());
        registry.grant(keccak256("deny"), _terms(PATIENT, ACTOR, IConsentRegistry.Effect.Deny));
        assertEq(
            uint8(_decide(ACTOR, OBSERVATION, READ, TREAT)), uint8(IConsentRegistry.Decision.Deny)
        );
        registry.revoke(keccak256("deny"));
        assertEq(
            uint8(_decide(ACTOR, OBSERVATION, READ, TREAT)), uint8(IConsentRegistry.Decision.Permit)
        );
    }

    function test_revoke_byCustodianAndDelegate() public {
        vm.prank(patientAccount);
        registry.grant(GRANT_ID, _permit());
        vm.prank(patientAccount);
        registry.grant(keccak256("grant-2"), _permit());
        vm.prank(custodian);
        registry.revoke(GRANT_ID);
        vm.prank(delegate);
        registry.revoke(keccak256("grant-2"));
        assertEq(registry.activeGrantIds(PATIENT, ACTOR).length, 0);
    }

    function test_RevertWhen_revokeUnknownGrant() public {
        vm.expectRevert(
            abi.encodeWithSelector(IConsentRegistry.ConsentRegistryGrantNotFound.selector, GRANT_ID)
        );
        vm.prank(patientAccount);
        registry.revoke(GRANT_ID);
    }

    function test_RevertWhen_revokeTwice() public {
        vm.startPrank(patientAccount);
        registry.grant(GRANT_ID, _permit());
        registry.revoke(GRANT_ID);
        vm.expectRevert(
            abi.encodeWithSelector(IConsentRegistry.ConsentRegistryGrantRevoked.selector, GRANT_ID)
        );
        registry.revoke(GRANT_ID);
    }

    function test_RevertWhen_revokeByStranger() public {
        vm.prank(patientAccount);
        registry.grant(GRANT_ID, _permit());
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistryUnauthorized.selector, stranger, PATIENT
            )
        );
        vm.prank(stranger);
        registry.revoke(GRANT_ID);
    }

    function testFuzz_revoke_neverPermits(
        uint64 time,
        uint8 resourceClass,
        uint8 action,
        uint8 purpose
    ) public {
        IConsentRegistry.GrantTerms memory t = _permit();
        t.classes = type(uint256).max;
        t.actions = 0x03;
        t.purposes = type(uint32).max;
        t.validFrom = 0;
        t.validUntil = 0;
        vm.startPrank(patientAccount);
        registry.grant(GRANT_ID, t);
        registry.revoke(GRANT_ID);
        assertFalse(registry.isPermitted(PATIENT, ACTOR, resourceClass, action, purpose, time));
    }

    // ---------------------------------------------------------------- patient accounts

    function test_bindPatientAccount() public {
        address account = makeAddr("other-patient");
        vm.expectEmit(address(registry));
        emit IConsentRegistry.PatientAccountBound(OTHER_PATIENT, account);
        vm.prank(custodian);
        registry.bindPatientAccount(OTHER_PATIENT, account);
        assertEq(registry.patientAccount(OTHER_PATIENT), account);
    }

    function test_bindPatientAccount_worksWhenCustodianGrantsDisabled() public {
        vm.prank(admin);
        registry.disableCustodianGrants();
        vm.prank(custodian);
        registry.bindPatientAccount(OTHER_PATIENT, stranger);
        assertEq(registry.patientAccount(OTHER_PATIENT), stranger);
    }

    function test_RevertWhen_bindByNonCustodian() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector,
                stranger,
                registry.CUSTODIAN_ROLE()
            )
        );
        vm.prank(stranger);
        registry.bindPatientAccount(OTHER_PATIENT, stranger);
    }

    function test_RevertWhen_bindAlreadyBound() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistryPatientAlreadyBound.selector,
                PATIENT,
                patientAccount
            )
        );
        vm.prank(custodian);
        registry.bindPatientAccount(PATIENT, custodian);
    }

    function test_RevertWhen_bindZeroKeyOrAddress() public {
        vm.startPrank(custodian);
        vm.expectRevert(IConsentRegistry.ConsentRegistryZeroKey.selector);
        registry.bindPatientAccount(bytes32(0), stranger);
        vm.expectRevert(IConsentRegistry.ConsentRegistryZeroAddress.selector);
        registry.bindPatientAccount(OTHER_PATIENT, address(0));
    }

    function test_transferPatientAccount_movesControl() public {
        address next = makeAddr("patient-new-key");
        vm.expectEmit(address(registry));
        emit IConsentRegistry.PatientAccountTransferred(PATIENT, patientAccount, next);
        vm.prank(patientAccount);
        registry.transferPatientAccount(PATIENT, next);
        assertEq(registry.patientAccount(PATIENT), next);

        vm.prank(next);
        registry.grant(GRANT_ID, _permit());
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistryUnauthorized.selector, patientAccount, PATIENT
            )
        );
        vm.prank(patientAccount);
        registry.revoke(GRANT_ID);
    }

    function test_RevertWhen_transferByOthers() public {
        address[3] memory callers = [stranger, custodian, delegate];
        for (uint256 i = 0; i < callers.length; ++i) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IConsentRegistry.ConsentRegistryUnauthorized.selector, callers[i], PATIENT
                )
            );
            vm.prank(callers[i]);
            registry.transferPatientAccount(PATIENT, callers[i]);
        }
    }

    function test_RevertWhen_transferUnboundOrToZero() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistryUnauthorized.selector, stranger, OTHER_PATIENT
            )
        );
        vm.prank(stranger);
        registry.transferPatientAccount(OTHER_PATIENT, stranger);

        vm.expectRevert(IConsentRegistry.ConsentRegistryZeroAddress.selector);
        vm.prank(patientAccount);
        registry.transferPatientAccount(PATIENT, address(0));
    }

    function testFuzz_transferPatientAccount(address next) public {
        vm.assume(next != address(0));
        vm.prank(patientAccount);
        registry.transferPatientAccount(PATIENT, next);
        assertEq(registry.patientAccount(PATIENT), next);
    }

    // ---------------------------------------------------------------- delegates

    function test_setDelegate_addAndRemove() public {
        address proxy = makeAddr("proxy");
        vm.expectEmit(address(registry));
        emit IConsentRegistry.DelegateChanged(PATIENT, proxy, true);
        vm.prank(patientAccount);
        registry.setDelegate(PATIENT, proxy, true);
        assertTrue(registry.isDelegate(PATIENT, proxy));

        vm.expectEmit(address(registry));
        emit IConsentRegistry.DelegateChanged(PATIENT, proxy, false);
        vm.prank(patientAccount);
        registry.setDelegate(PATIENT, proxy, false);
        assertFalse(registry.isDelegate(PATIENT, proxy));

        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistryUnauthorized.selector, proxy, PATIENT
            )
        );
        vm.prank(proxy);
        registry.grant(GRANT_ID, _permit());
    }

    function test_RevertWhen_setDelegateByNonPatient() public {
        address[3] memory callers = [stranger, custodian, delegate];
        for (uint256 i = 0; i < callers.length; ++i) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IConsentRegistry.ConsentRegistryUnauthorized.selector, callers[i], PATIENT
                )
            );
            vm.prank(callers[i]);
            registry.setDelegate(PATIENT, stranger, true);
        }
    }

    function test_RevertWhen_setDelegateZero() public {
        vm.expectRevert(IConsentRegistry.ConsentRegistryZeroAddress.selector);
        vm.prank(patientAccount);
        registry.setDelegate(PATIENT, address(0), true);
    }

    function testFuzz_setDelegate(address proxy, bool allowed) public {
        vm.assume(proxy != address(0));
        vm.prank(patientAccount);
        registry.setDelegate(PATIENT, proxy, allowed);
        assertEq(registry.isDelegate(PATIENT, proxy), allowed);
    }

    // ---------------------------------------------------------------- custodian policy

    function test_disableCustodianGrants_isOneWay() public {
        vm.expectEmit(address(registry));
        emit IConsentRegistry.CustodianGrantsDisabled();
        vm.prank(admin);
        registry.disableCustodianGrants();
        assertFalse(registry.custodianGrantsAllowed());

        vm.recordLogs();
        vm.prank(admin);
        registry.disableCustodianGrants();
        assertEq(vm.getRecordedLogs().length, 0);
        assertFalse(registry.custodianGrantsAllowed());
    }

    function test_RevertWhen_disableByNonAdmin() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, custodian, bytes32(0)
            )
        );
        vm.prank(custodian);
        registry.disableCustodianGrants();
    }

    // ---------------------------------------------------------------- decide

    function test_decide_notApplicableWithoutGrants() public view {
        assertEq(
            uint8(_decide(ACTOR, OBSERVATION, READ, TREAT)),
            uint8(IConsentRegistry.Decision.NotApplicable)
        );
        assertFalse(
            registry.isPermitted(PATIENT, ACTOR, OBSERVATION, READ, TREAT, uint64(block.timestamp))
        );
    }

    function test_decide_requiresClassActionAndPurpose() public {
        vm.prank(patientAccount);
        registry.grant(GRANT_ID, _permit());
        uint8 na = uint8(IConsentRegistry.Decision.NotApplicable);
        assertEq(
            uint8(_decide(ACTOR, CONDITION, READ, TREAT)), uint8(IConsentRegistry.Decision.Permit)
        );
        assertEq(uint8(_decide(ACTOR, 5, READ, TREAT)), na);
        assertEq(uint8(_decide(ACTOR, OBSERVATION, WRITE, TREAT)), na);
        assertEq(uint8(_decide(ACTOR, OBSERVATION, READ, HRESCH)), na);
        assertEq(uint8(_decide(OTHER_ACTOR, OBSERVATION, READ, TREAT)), na);
        // Bit indexes past the field width match nothing.
        assertEq(uint8(_decide(ACTOR, OBSERVATION, 8, TREAT)), na);
        assertEq(uint8(_decide(ACTOR, OBSERVATION, READ, 32)), na);
        assertEq(
            uint8(
                registry.decide(
                    OTHER_PATIENT, ACTOR, OBSERVATION, READ, TREAT, uint64(block.timestamp)
                )
            ),
            na
        );
    }

    function test_decide_timeWindowIsHalfOpen() public {
        IConsentRegistry.GrantTerms memory t = _permit();
        vm.prank(patientAccount);
        registry.grant(GRANT_ID, t);
        assertFalse(registry.isPermitted(PATIENT, ACTOR, OBSERVATION, READ, TREAT, t.validFrom - 1));
        assertTrue(registry.isPermitted(PATIENT, ACTOR, OBSERVATION, READ, TREAT, t.validFrom));
        assertTrue(registry.isPermitted(PATIENT, ACTOR, OBSERVATION, READ, TREAT, t.validUntil - 1));
        assertFalse(registry.isPermitted(PATIENT, ACTOR, OBSERVATION, READ, TREAT, t.validUntil));
    }

    function test_decide_openEndedGrantNeverExpires() public {
        IConsentRegistry.GrantTerms memory t = _permit();
        t.validUntil = 0;
        vm.prank(patientAccount);
        registry.grant(GRANT_ID, t);
        assertTrue(registry.isPermitted(PATIENT, ACTOR, OBSERVATION, READ, TREAT, type(uint64).max));
    }

    function test_decide_expiredDenyNoLongerDenies() public {
        IConsentRegistry.GrantTerms memory deny =
            _terms(PATIENT, ACTOR, IConsentRegistry.Effect.Deny);
        deny.validUntil = deny.validFrom + 1 days;
        vm.startPrank(patientAccount);
        registry.grant(GRANT_ID, _permit());
        registry.grant(keccak256("deny"), deny);
        assertEq(
            uint8(_decide(ACTOR, OBSERVATION, READ, TREAT)), uint8(IConsentRegistry.Decision.Deny)
        );
        assertTrue(registry.isPermitted(PATIENT, ACTOR, OBSERVATION, READ, TREAT, deny.validUntil));
    }

    function test_decide_denyWinsOverPermit() public {
        vm.startPrank(patientAccount);
        registry.grant(keccak256("deny"), _terms(PATIENT, ACTOR, IConsentRegistry.Effect.Deny));
        registry.grant(GRANT_ID, _permit());
        assertEq(
            uint8(_decide(ACTOR, OBSERVATION, READ, TREAT)), uint8(IConsentRegistry.Decision.Deny)
        );
    }

    function test_decide_denyOnlyCoversItsScope() public {
        IConsentRegistry.GrantTerms memory deny =
            _terms(PATIENT, ACTOR, IConsentRegistry.Effect.Deny);
        deny.classes = uint256(1) << CONDITION;
        vm.startPrank(patientAccount);
        registry.grant(GRANT_ID, _permit());
        registry.grant(keccak256("deny"), deny);
        assertEq(
            uint8(_decide(ACTOR, CONDITION, READ, TREAT)), uint8(IConsentRegistry.Decision.Deny)
        );
        assertEq(
            uint8(_decide(ACTOR, OBSERVATION, READ, TREAT)), uint8(IConsentRegistry.Decision.Permit)
        );
    }

    function test_decide_wildcardActor() public {
        vm.startPrank(patientAccount);
        registry.grant(GRANT_ID, _terms(PATIENT, ANY_ACTOR, IConsentRegistry.Effect.Permit));
        assertEq(
            uint8(_decide(ACTOR, OBSERVATION, READ, TREAT)), uint8(IConsentRegistry.Decision.Permit)
        );
        assertEq(
            uint8(_decide(ANY_ACTOR, OBSERVATION, READ, TREAT)),
            uint8(IConsentRegistry.Decision.Permit)
        );

        // A specific deny beats a wildcard permit ...
        registry.grant(keccak256("deny"), _terms(PATIENT, ACTOR, IConsentRegistry.Effect.Deny));
        assertEq(
            uint8(_decide(ACTOR, OBSERVATION, READ, TREAT)), uint8(IConsentRegistry.Decision.Deny)
        );
        assertEq(
            uint8(_decide(OTHER_ACTOR, OBSERVATION, READ, TREAT)),
            uint8(IConsentRegistry.Decision.Permit)
        );
    }

    function test_decide_wildcardDenyBeatsSpecificPermit() public {
        vm.startPrank(patientAccount);
        registry.grant(GRANT_ID, _permit());
        registry.grant(
            keccak256("deny-all"), _terms(PATIENT, ANY_ACTOR, IConsentRegistry.Effect.Deny)
        );
        assertEq(
            uint8(_decide(ACTOR, OBSERVATION, READ, TREAT)), uint8(IConsentRegistry.Decision.Deny)
        );
    }

    struct FuzzGrant {
        uint256 classes;
        uint8 actions;
        uint32 purposes;
        uint64 start;
        uint32 length;
        bool deny;
        bool wildcard;
        bool revoked;
    }

    /// @dev Differential check against a plain re-statement of the documented semantics.
    function testFuzz_decide_matchesSpecification(
        FuzzGrant[4] memory fuzzed,
        uint8 resourceClass,
        uint8 action,
        uint8 purpose,
        uint64 time
    ) public {
        IConsentRegistry.GrantTerms[4] memory grants;
        for (uint256 i = 0; i < 4; ++i) {
            grants[i] = _fuzzTerms(fuzzed[i], i);
            vm.prank(patientAccount);
            registry.grant(bytes32(i + 1), grants[i]);
            if (fuzzed[i].revoked) {
                vm.prank(patientAccount);
                registry.revoke(bytes32(i + 1));
            }
        }
        time = uint64(bound(time, 0, 1600));
        action = uint8(bound(action, 0, 2));
        purpose = uint8(bound(purpose, 0, 33));

        IConsentRegistry.Decision expected = IConsentRegistry.Decision.NotApplicable;
        for (uint256 i = 0; i < 4; ++i) {
            if (fuzzed[i].revoked || !_applies(grants[i], resourceClass, action, purpose, time)) {
                continue;
            }
            if (grants[i].effect == IConsentRegistry.Effect.Deny) {
                expected = IConsentRegistry.Decision.Deny;
            } else if (expected == IConsentRegistry.Decision.NotApplicable) {
                expected = IConsentRegistry.Decision.Permit;
            }
        }
        assertEq(
            uint8(registry.decide(PATIENT, ACTOR, resourceClass, action, purpose, time)),
            uint8(expected)
        );
        assertEq(
            registry.isPermitted(PATIENT, ACTOR, resourceClass, action, purpose, time),
            expected == IConsentRegistry.Decision.Permit
        );
    }

    function _fuzzTerms(FuzzGrant memory f, uint256 i)
        private
        pure
        returns (IConsentRegistry.GrantTerms memory t)
    {
        t.patient = PATIENT;
        t.actor = f.wildcard ? ANY_ACTOR : ACTOR;
        t.classes = bound(f.classes, 1, type(uint256).max);
        t.actions = uint8(bound(f.actions, 1, 3));
        t.purposes = uint32(bound(f.purposes, 1, type(uint32).max));
        t.validFrom = uint64(bound(f.start, 0, 1000));
        t.validUntil = f.length % 3 == 0 ? 0 : t.validFrom + 1 + f.length % 500;
        t.effect = f.deny ? IConsentRegistry.Effect.Deny : IConsentRegistry.Effect.Permit;
        t.consentVersion = bytes32(i);
    }

    function _applies(
        IConsentRegistry.GrantTerms memory g,
        uint8 resourceClass,
        uint8 action,
        uint8 purpose,
        uint64 time
    ) private pure returns (bool) {
        if (time < g.validFrom || (g.validUntil != 0 && time >= g.validUntil)) {
            return false;
        }
        if ((g.classes >> resourceClass) & 1 == 0) return false;
        if (action > 7 || (g.actions >> action) & 1 == 0) return false;
        return purpose <= 31 && (g.purposes >> purpose) & 1 == 1;
    }

    // ---------------------------------------------------------------- views

    function test_getGrant_unknownIsEmpty() public view {
        IConsentRegistry.Grant memory g = registry.getGrant(GRANT_ID);
        assertEq(uint8(g.status), uint8(IConsentRegistry.Status.None));
        assertEq(g.terms.patient, bytes32(0));
    }

    function test_domainSeparator_matchesEip712() public view {
        assertEq(registry.DOMAIN_SEPARATOR(), _domain());
        (, string memory name, string memory version, uint256 chainId, address verifying,,) =
            registry.eip712Domain();
        assertEq(name, "ConsentRegistry");
        assertEq(version, "1");
        assertEq(chainId, block.chainid);
        assertEq(verifying, address(registry));
    }

    function test_domainSeparator_followsChainId() public {
        vm.chainId(4242);
        assertEq(registry.DOMAIN_SEPARATOR(), _domainSeparator(4242, address(registry)));
    }
}
