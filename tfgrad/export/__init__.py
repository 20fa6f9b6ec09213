"""Exports: `versioned` (TF Serving's version layout, the stock twin, loading back), and one
serving module per kind of signature, each built from spaces (`tfgrad.spaces`): `walk`
(walk / walk_exact) and `recommend` (recommend / recommend_exact / score)."""
