// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Test} from "forge-std/Test.sol";
import {ProvenanceAnchor} from "../../src/ProvenanceAnchor.sol";
import {IProvenanceAnchor} from "../../src/interfaces/IProvenanceAnchor.sol";

/// @dev Anchors roots drawn from a small pool, so repeats (which must fail) are frequent.
contract ProvenanceAnchorHandler is Test {
    ProvenanceAnchor public immutable anchor;
    address public immutable anchorer;

    bytes32[] public roots;
    mapping(bytes32 root => IProvenanceAnchor.Anchor) internal first;
    bool public countDecreased;
    bool public strangerAnchored;

    constructor(ProvenanceAnchor anchor_, address anchorer_) {
        anchor = anchor_;
        anchorer = anchorer_;
    }

    function rootCount() external view returns (uint256) {
        return roots.length;
    }

    function firstAnchor(bytes32 root) external view returns (IProvenanceAnchor.Anchor memory) {
        return first[root];
    }

    function anchorRoot(uint256 rootSeed, uint256 batchSeed, uint64 leafCount, uint256 dt)
        external
    {
        vm.warp(block.timestamp + bound(dt, 0, 1 hours));
        vm.roll(block.number + 1);
        bytes32 root = keccak256(abi.encode("root", rootSeed % 24));
        bytes32 batchId = keccak256(abi.encode("batch", batchSeed % 24));
        leafCount = uint64(bound(leafCount, 1, 10_000));
        uint64 before = anchor.anchorCount();
        vm.prank(anchorer);
        try anchor.anchor(root, leafCount, batchId) {
            roots.push(root);
            first[root] = anchor.getAnchor(root);
        } catch {}
        if (anchor.anchorCount() < before) countDecreased = true;
    }

    function anchorAsStranger(uint256 rootSeed) external {
        vm.prank(address(0xBAD));
        try anchor.anchor(keccak256(abi.encode("stranger", rootSeed)), 1, bytes32(rootSeed | 1)) {
            strangerAnchored = true;
        } catch {}
    }
}

contract ProvenanceAnchorInvariantTest is Test {
    ProvenanceAnchor internal anchor;
    ProvenanceAnchorHandler internal handler;

    function setUp() public {
        vm.warp(1_700_000_000);
        address anchorer = makeAddr("anchorer");
        anchor = new ProvenanceAnchor(address(this), anchorer);
        handler = new ProvenanceAnchorHandler(anchor, anchorer);
        targetContract(address(handler));
    }

    /// Once anchored, a root's record never changes.
    function invariant_anchoredRootNeverOverwritten() public view {
        uint256 n = handler.rootCount();
        for (uint256 i = 0; i < n; ++i) {
            bytes32 root = handler.roots(i);
            assertEq(abi.encode(anchor.getAnchor(root)), abi.encode(handler.firstAnchor(root)));
            assertEq(anchor.getAnchor(root).index, i);
            assertEq(anchor.rootOfBatch(anchor.getAnchor(root).batchId), root);
        }
    }

    /// The count only grows, by exactly one per new root, and only anchorers add roots.
    function invariant_anchoredCountOnlyGrows() public view {
        assertFalse(handler.countDecreased());
        assertFalse(handler.strangerAnchored());
        assertEq(anchor.anchorCount(), handler.rootCount());
    }
}
