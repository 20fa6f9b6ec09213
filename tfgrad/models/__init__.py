"""tfgrad's models, one Keras 3 model per module: the retrieval models (`RetrievalModel`s: CGIR,
its ablations, CBIR, DSCMR, TIRG) and the recommenders (`Recommender`s: DVBPR and its
baselines). Which system trains which model, and how it is built from a config, is in
`tfgrad/systems/`; models never read files."""
