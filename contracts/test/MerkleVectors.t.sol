// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {Test} from "forge-std/Test.sol";
import {stdJson} from "forge-std/StdJson.sol";
import {ProvenanceAnchor} from "../src/ProvenanceAnchor.sol";

/// @dev Proofs made by @openzeppelin/merkle-tree (scripts/merkle-vectors.mjs) must verify here,
/// so the TypeScript side and MerkleProof.sol agree byte for byte.
contract MerkleVectorsTest is Test {
    using stdJson for string;

    ProvenanceAnchor internal anchor;
    string internal json;

    function setUp() public {
        anchor = new ProvenanceAnchor(address(this), address(this));
        json = vm.readFile(string.concat(vm.projectRoot(), "/contracts/test/vectors/merkle.json"));
    }

    function test_vectors_verifyInMerkleProofAndAnchor() public {
        uint256 trees = json.readUint(".treeCount");
        assertGt(trees, 0);
        uint256 checked;
        for (uint256 t = 0; t < trees; ++t) {
            string memory tree = string.concat(".trees[", vm.toString(t), "]");
            bytes32 root = json.readBytes32(string.concat(tree, ".root"));
            uint256 count = json.readUint(string.concat(tree, ".leafCount"));
            // forge-lint: disable-next-line(unsafe-typecast)
            anchor.anchor(root, uint64(count), bytes32(t + 1));
            for (uint256 i = 0; i < count; ++i) {
                string memory leaf = string.concat(tree, ".leaves[", vm.toString(i), "]");
                _checkLeaf(leaf, root);
                ++checked;
            }
        }
        assertEq(anchor.anchorCount(), trees);
        assertGt(checked, trees);
    }

    function _checkLeaf(string memory path, bytes32 root) internal view {
        string memory ref = json.readString(string.concat(path, ".ref"));
        string memory canonical = json.readString(string.concat(path, ".canonical"));
        bytes32 contentHash = json.readBytes32(string.concat(path, ".contentHash"));
        bytes32 leaf = json.readBytes32(string.concat(path, ".leaf"));
        bytes32[] memory proof = json.readBytes32Array(string.concat(path, ".proof"));

        assertEq(keccak256(bytes(canonical)), contentHash, "contentHash = keccak256(JCS)");
        assertEq(anchor.leafHash(ref, contentHash), leaf, "leaf encoding");
        assertTrue(MerkleProof.verify(proof, root, leaf), "MerkleProof.verify");
        assertTrue(anchor.verify(proof, root, leaf), "ProvenanceAnchor.verify");
        // Any other content under the same reference must fail.
        bytes32 forged = anchor.leafHash(ref, keccak256(abi.encode(contentHash)));
        assertFalse(anchor.verify(proof, root, forged), "forged content");
    }
}
