"""Identity linking: which accounts are the same actor (Fellegi-Sunter, as Splink does it).

``normalise`` spells identifier values one way, ``comparisons`` finds candidate
pairs and their comparison levels, ``joint`` compares dependent kinds (device,
IP, address) as one, ``sessions`` estimates m by EM sessions blocked on personal
identifiers, ``fellegi_sunter`` holds the model's EM and weights, ``linker``
holds it together in :class:`IdentityLinker`.
"""

from ringfence.graph.linking.linker import (DEFAULT_SETTINGS, SAME_ACTOR, SHARED_ENVIRONMENT,
                                            IdentityLinker)

__all__ = ["DEFAULT_SETTINGS", "IdentityLinker", "SAME_ACTOR", "SHARED_ENVIRONMENT"]
