// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
contract Tmp { function v(bytes32[] calldata p, bytes32 r, bytes32 l) external pure returns (bool) { return MerkleProof.verifyCalldata(p, r, l); } }
