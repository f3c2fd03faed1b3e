// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {IProvenanceAnchor} from "./interfaces/IProvenanceAnchor.sol";

/// @title ProvenanceAnchor
/// @notice Write-once registry of batch Merkle roots (see IProvenanceAnchor for the leaf format).
contract ProvenanceAnchor is IProvenanceAnchor, AccessControl {
    /// @notice Role of the anchoring worker's key.
    bytes32 public constant ANCHORER_ROLE = keccak256("ANCHORER_ROLE");

    mapping(bytes32 root => Anchor) private _anchors;
    mapping(bytes32 batchId => bytes32 root) private _roots;
    uint64 private _anchorCount;

    /// @param admin Holder of DEFAULT_ADMIN_ROLE (grants and revokes anchorers).
    /// @param anchorer Initial ANCHORER_ROLE holder (the server's key), or zero for none.
    constructor(address admin, address anchorer) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        if (anchorer != address(0)) _grantRole(ANCHORER_ROLE, anchorer);
    }

    /// @inheritdoc IProvenanceAnchor
    function anchor(bytes32 root, uint64 leafCount, bytes32 batchId)
        external
        onlyRole(ANCHORER_ROLE)
    {
        if (root == bytes32(0)) revert ProvenanceAnchorZeroRoot();
        if (batchId == bytes32(0)) revert ProvenanceAnchorZeroBatchId();
        if (leafCount == 0) revert ProvenanceAnchorEmptyBatch();
        uint64 previous = _anchors[root].anchoredAt;
        if (previous != 0) revert ProvenanceAnchorRootAlreadyAnchored(root, previous);
        bytes32 batchRoot = _roots[batchId];
        if (batchRoot != bytes32(0)) {
            revert ProvenanceAnchorBatchAlreadyAnchored(batchId, batchRoot);
        }

        uint64 index = _anchorCount++;
        uint64 timestamp = uint64(block.timestamp);
        _anchors[root] = Anchor({
            batchId: batchId,
            leafCount: leafCount,
            anchoredAt: timestamp,
            blockNumber: uint64(block.number),
            index: index
        });
        _roots[batchId] = root;
        emit RootAnchored(root, batchId, index, leafCount, timestamp);
    }

    /// @inheritdoc IProvenanceAnchor
    function getAnchor(bytes32 root) external view returns (Anchor memory) {
        return _anchors[root];
    }

    /// @inheritdoc IProvenanceAnchor
    function anchoredAt(bytes32 root) external view returns (uint64) {
        return _anchors[root].anchoredAt;
    }

    /// @inheritdoc IProvenanceAnchor
    function rootOfBatch(bytes32 batchId) external view returns (bytes32) {
        return _roots[batchId];
    }

    /// @inheritdoc IProvenanceAnchor
    function anchorCount() external view returns (uint64) {
        return _anchorCount;
    }

    /// @inheritdoc IProvenanceAnchor
    function verify(bytes32[] calldata proof, bytes32 root, bytes32 leaf)
        external
        view
        returns (bool)
    {
        return _anchors[root].anchoredAt != 0 && MerkleProof.verifyCalldata(proof, root, leaf);
    }

    /// @inheritdoc IProvenanceAnchor
    function leafHash(string calldata ref, bytes32 contentHash) external pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(ref, contentHash))));
    }
}
