"""The team's real datasets (../shared/data, see its README), read in place by the loaders."""

import os

import pytest

from support.cli_helpers import REPO

SHARED_DATA = os.path.normpath(os.path.join(REPO, "..", "shared", "data"))
ML_SMALL = os.path.join(SHARED_DATA, "movielens", "ml-latest-small")
ML_100K = os.path.join(SHARED_DATA, "movielens", "ml-100k")
GENOME_HEAD = os.path.join(SHARED_DATA, "movielens", "tag-genome-head")
SOFT_ATTRIBUTES = os.path.join(SHARED_DATA, "movielens", "soft-attributes", "soft-attributes.csv")
HM = os.path.join(SHARED_DATA, "fashion", "hm")
FASHION_MNIST = os.path.join(SHARED_DATA, "images", "fashion-mnist")
CIFAR_10 = os.path.join(SHARED_DATA, "images", "cifar-10")
FASHION_PRODUCTS = os.path.join(SHARED_DATA, "fashion", "fashion-product-images-small")

needs_shared_data = pytest.mark.skipif(
    not os.path.isdir(SHARED_DATA), reason=f"the shared datasets are not at {SHARED_DATA}")
