"""The housing example: a seeded synthetic house-price generator and its project template.

``shipyard init DIR --template housing`` copies ``template/`` into DIR.
"""

from shipyard.examples.housing.data import FEATURES, REGIONS, TARGET, generate

__all__ = ["FEATURES", "REGIONS", "TARGET", "generate"]
