// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IProvenanceAnchor
/// @notice Merkle roots of batches of FHIR resource versions. Leaves are OpenZeppelin
/// StandardMerkleTree leaves of types ["string","bytes32"] with values
/// ["<Type>/<id>/_history/<vid>", contentHash], i.e.
/// keccak256(bytes.concat(keccak256(abi.encode(ref, contentHash)))); the tree is the
/// sorted-pair tree that `MerkleProof.verify` checks. Only roots, counts and batch ids are
/// stored: never a leaf, a FHIR id or anything about a person.
interface IProvenanceAnchor {
    /// @notice When and where a root was anchored.
    struct Anchor {
        bytes32 batchId;
        uint64 leafCount;
        uint64 anchoredAt;
        uint64 blockNumber;
        /// @dev Zero-based position among all anchored roots.
        uint64 index;
    }

    /// @notice The root is zero.
    error ProvenanceAnchorZeroRoot();
    /// @notice The batch id is zero.
    error ProvenanceAnchorZeroBatchId();
    /// @notice A batch has at least one leaf.
    error ProvenanceAnchorEmptyBatch();
    /// @notice The root was anchored before, at `anchoredAt`; anchors are never overwritten.
    error ProvenanceAnchorRootAlreadyAnchored(bytes32 root, uint64 anchoredAt);
    /// @notice The batch was anchored before, under `root`.
    error ProvenanceAnchorBatchAlreadyAnchored(bytes32 batchId, bytes32 root);

    /// @notice A batch root was anchored.
    event RootAnchored(
        bytes32 indexed root,
        bytes32 indexed batchId,
        uint64 indexed index,
        uint64 leafCount,
        uint64 anchoredAt
    );

    /// @notice Anchors a batch root and records the block timestamp. ANCHORER_ROLE only.
    /// @param root Merkle root of the batch; never anchored before.
    /// @param leafCount Number of leaves in the batch (at least one).
    /// @param batchId The server's id of the batch (non-zero, unique), so a retry cannot
    /// anchor the same batch twice.
    function anchor(bytes32 root, uint64 leafCount, bytes32 batchId) external;

    /// @notice The anchor record of a root (all zero if never anchored).
    /// @param root The root.
    /// @return The record.
    function getAnchor(bytes32 root) external view returns (Anchor memory);

    /// @notice Block timestamp at which `root` was anchored, zero if never.
    /// @param root The root.
    /// @return Unix seconds.
    function anchoredAt(bytes32 root) external view returns (uint64);

    /// @notice The root anchored for a batch id, zero if none.
    /// @param batchId The batch id.
    /// @return The root.
    function rootOfBatch(bytes32 batchId) external view returns (bytes32);

    /// @notice How many roots have been anchored; never decreases.
    /// @return The count.
    function anchorCount() external view returns (uint64);

    /// @notice True when `root` is anchored and `proof` proves `leaf` is in its tree.
    /// @param proof Sibling hashes from leaf to root (StandardMerkleTree `getProof`).
    /// @param root The root.
    /// @param leaf The leaf hash.
    /// @return Whether the leaf is proven in an anchored root.
    function verify(bytes32[] calldata proof, bytes32 root, bytes32 leaf)
        external
        view
        returns (bool);

    /// @notice The leaf of a resource version, as StandardMerkleTree computes it.
    /// @param ref "<Type>/<id>/_history/<vid>".
    /// @param contentHash keccak256 of the version's RFC 8785 canonical JSON.
    /// @return The leaf hash.
    function leafHash(string calldata ref, bytes32 contentHash) external pure returns (bytes32);
}
