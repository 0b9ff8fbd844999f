//! RLPx transport (filled in by the rlpx issue).
