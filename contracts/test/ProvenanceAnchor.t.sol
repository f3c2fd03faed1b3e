// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {Test} from "forge-std/Test.sol";
import {ProvenanceAnchor} from "../src/ProvenanceAnchor.sol";
import {IProvenanceAnchor} from "../src/interfaces/IProvenanceAnchor.sol";

contract ProvenanceAnchorTest is Test {
    bytes32 internal constant ROOT = keccak256("root-1");
    bytes32 internal constant BATCH = keccak256("batch-1");

    ProvenanceAnchor internal anchor;
    address internal admin = makeAddr("admin");
    address internal anchorer = makeAddr("anchorer");

    function setUp() public {
        vm.warp(1_700_000_000);
        vm.roll(100);
        anchor = new ProvenanceAnchor(admin, anchorer);
    }

    function test_constructor_setsRoles() public {
        assertTrue(anchor.hasRole(anchor.DEFAULT_ADMIN_ROLE(), admin));
        assertTrue(anchor.hasRole(anchor.ANCHORER_ROLE(), anchorer));
        ProvenanceAnchor bare = new ProvenanceAnchor(admin, address(0));
        assertFalse(bare.hasRole(bare.ANCHORER_ROLE(), address(0)));
        assertEq(bare.anchorCount(), 0);
    }

    function test_anchor_recordsAndEmits() public {
        vm.expectEmit(address(anchor));
        emit IProvenanceAnchor.RootAnchored(ROOT, BATCH, 0, 12, uint64(block.timestamp));
        vm.prank(anchorer);
        anchor.anchor(ROOT, 12, BATCH);

        IProvenanceAnchor.Anchor memory a = anchor.getAnchor(ROOT);
        assertEq(a.batchId, BATCH);
        assertEq(a.leafCount, 12);
        assertEq(a.anchoredAt, block.timestamp);
        assertEq(a.blockNumber, 100);
        assertEq(a.index, 0);
        assertEq(anchor.anchoredAt(ROOT), block.timestamp);
        assertEq(anchor.rootOfBatch(BATCH), ROOT);
        assertEq(anchor.anchorCount(), 1);
    }

    function test_anchor_indexesInOrder() public {
        vm.startPrank(anchorer);
        for (uint64 i = 1; i <= 3; ++i) {
            anchor.anchor(bytes32(uint256(i)), i, bytes32(uint256(i) + 100));
            assertEq(anchor.getAnchor(bytes32(uint256(i))).index, i - 1);
        }
        assertEq(anchor.anchorCount(), 3);
    }

    function test_anchor_byGrantedAnchorer() public {
        address worker = makeAddr("worker");
        bytes32 role = anchor.ANCHORER_ROLE();
        vm.prank(admin);
        anchor.grantRole(role, worker);
        vm.prank(worker);
        anchor.anchor(ROOT, 1, BATCH);
        assertEq(anchor.anchorCount(), 1);
    }

    function test_RevertWhen_anchorByNonAnchorer() public {
        address[2] memory callers = [admin, makeAddr("stranger")];
        for (uint256 i = 0; i < callers.length; ++i) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IAccessControl.AccessControlUnauthorizedAccount.selector,
                    callers[i],
                    anchor.ANCHORER_ROLE()
                )
            );
            vm.prank(callers[i]);
            anchor.anchor(ROOT, 1, BATCH);
        }
    }

    function test_RevertWhen_anchorAfterRoleRevoked() public {
        bytes32 role = anchor.ANCHORER_ROLE();
        vm.prank(admin);
        anchor.revokeRole(role, anchorer);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, anchorer, role
            )
        );
        vm.prank(anchorer);
        anchor.anchor(ROOT, 1, BATCH);
    }

    function test_RevertWhen_rootAnchoredBefore() public {
        vm.startPrank(anchorer);
        anchor.anchor(ROOT, 5, BATCH);
        uint64 first = uint64(block.timestamp);
        vm.warp(block.timestamp + 60);
        vm.expectRevert(
            abi.encodeWithSelector(
                IProvenanceAnchor.ProvenanceAnchorRootAlreadyAnchored.selector, ROOT, first
            )
        );
        anchor.anchor(ROOT, 7, keccak256("batch-2"));
        assertEq(anchor.getAnchor(ROOT).leafCount, 5);
        assertEq(anchor.anchoredAt(ROOT), first);
    }

    function test_RevertWhen_batchAnchoredBefore() public {
        vm.startPrank(anchorer);
        anchor.anchor(ROOT, 5, BATCH);
        vm.expectRevert(
            abi.encodeWithSelector(
                IProvenanceAnchor.ProvenanceAnchorBatchAlreadyAnchored.selector, BATCH, ROOT
            )
        );
        anchor.anchor(keccak256("root-2"), 5, BATCH);
    }

    function test_RevertWhen_anchorArgumentsEmpty() public {
        vm.startPrank(anchorer);
        vm.expectRevert(IProvenanceAnchor.ProvenanceAnchorZeroRoot.selector);
        anchor.anchor(bytes32(0), 1, BATCH);
        vm.expectRevert(IProvenanceAnchor.ProvenanceAnchorZeroBatchId.selector);
        anchor.anchor(ROOT, 1, bytes32(0));
        vm.expectRevert(IProvenanceAnchor.ProvenanceAnchorEmptyBatch.selector);
        anchor.anchor(ROOT, 0, BATCH);
    }

    function testFuzz_anchor(bytes32 root, uint64 leafCount, bytes32 batchId, uint64 time) public {
        vm.assume(root != bytes32(0) && batchId != bytes32(0));
        leafCount = uint64(bound(leafCount, 1, type(uint64).max));
        time = uint64(bound(time, 1, type(uint64).max));
        vm.warp(time);
        vm.prank(anchorer);
        anchor.anchor(root, leafCount, batchId);
        assertEq(anchor.anchoredAt(root), time);
        assertEq(anchor.getAnchor(root).leafCount, leafCount);
        assertEq(anchor.rootOfBatch(batchId), root);
    }

    function testFuzz_RevertWhen_anchorTwice(bytes32 root, bytes32 batchA, bytes32 batchB) public {
        vm.assume(root != bytes32(0) && batchA != bytes32(0) && batchB != bytes32(0));
        vm.startPrank(anchorer);
        anchor.anchor(root, 1, batchA);
        vm.expectRevert();
        anchor.anchor(root, 2, batchB);
        assertEq(anchor.anchorCount(), 1);
    }

    function test_views_unknownRootIsZero() public view {
        IProvenanceAnchor.Anchor memory a = anchor.getAnchor(ROOT);
        assertEq(a.anchoredAt, 0);
        assertEq(a.batchId, bytes32(0));
        assertEq(anchor.anchoredAt(ROOT), 0);
        assertEq(anchor.rootOfBatch(BATCH), bytes32(0));
    }

    function test_verify_requiresAnchoredRootAndValidProof() public {
        bytes32 a = anchor.leafHash("Patient/a/_history/1", keccak256("a"));
        bytes32 b = anchor.leafHash("Patient/b/_history/1", keccak256("b"));
        bytes32 root = a < b ? keccak256(abi.encode(a, b)) : keccak256(abi.encode(b, a));
        bytes32[] memory proof = new bytes32[](1);
        proof[0] = b;

        assertTrue(MerkleProof.verify(proof, root, a));
        assertFalse(anchor.verify(proof, root, a), "not anchored yet");
        vm.prank(anchorer);
        anchor.anchor(root, 2, BATCH);
        assertTrue(anchor.verify(proof, root, a));
        assertFalse(anchor.verify(proof, root, b), "wrong leaf");
        assertFalse(anchor.verify(new bytes32[](0), root, a), "missing proof");
    }

    function testFuzz_verify_rejectsOtherLeaves(bytes32 leaf) public {
        bytes32 a = keccak256("leaf-a");
        bytes32 b = keccak256("leaf-b");
        vm.assume(leaf != a && leaf != b);
        bytes32 root = a < b ? keccak256(abi.encode(a, b)) : keccak256(abi.encode(b, a));
        vm.prank(anchorer);
        anchor.anchor(root, 2, BATCH);
        bytes32[] memory proof = new bytes32[](1);
        proof[0] = b;
        assertFalse(anchor.verify(proof, root, leaf));
    }

    function testFuzz_leafHash_matchesStandardMerkleTree(string calldata ref, bytes32 contentHash)
        public
        view
    {
        assertEq(
            anchor.leafHash(ref, contentHash),
            keccak256(bytes.concat(keccak256(abi.encode(ref, contentHash))))
        );
    }
}
