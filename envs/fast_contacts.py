"""A vectorised replacement for dm_control's per-contact Python loop in target spheres.

Memory Maze steps its physics 50 times per control step, and after every physics step each
target sphere runs ``TargetSphere._update_activation``: a Python ``for`` over
``physics.data.contact`` that builds one contact struct per iteration to compare its two geom
ids with the sphere's. That loop is about 65% of a stock Memory Maze step. The replacement reads
the ``geom1``/``geom2`` columns of the same contact list as numpy arrays and makes the same
decision with two comparisons, so the activation flag, the material alpha it writes, and hence
every frame and reward, are unchanged (``tests/test_envs_fast_contacts.py`` checks this
bit-for-bit over 2000+ steps).

The replacement is installed per target instance (an instance attribute shadows the class
method), never on the class, so stock environments in the same process stay stock.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np

from lsswm.envs.rendering import configure_headless_gl


def vectorised_update_activation(target: Any, physics: Any) -> None:
    """Same decision as ``TargetSphere._update_activation`` (dm_control 1.0.x), without a loop.

    Stock logic: the sphere becomes activated when some current contact involves the sphere's
    geom and, if ``specific_collision_geom_ids`` is set, also involves one of those geoms. On
    activation its material is made fully transparent. Once activated it stays so until
    ``target.reset``.
    """
    if target._activated:
        return
    contacts = physics.data.contact  # dm_control already slices this to the ncon live contacts
    geom1 = contacts.geom1
    geom2 = contacts.geom2
    touching = (geom1 == target._geom_id) | (geom2 == target._geom_id)
    specific_ids = target._specific_collision_geom_ids
    if specific_ids:
        specific = np.asarray(list(specific_ids))
        touching &= np.isin(geom1, specific) | np.isin(geom2, specific)
    if touching.any():
        target._activated = True
        physics.bind(target._material).rgba[-1] = 0


def install_fast_contacts(root_entity: Any) -> int:
    """Switch every ``TargetSphere`` under ``root_entity`` to the vectorised activation check.

    ``root_entity`` is a composer entity, e.g. ``dm_env.task.root_entity``. Returns how many
    targets were switched (already switched ones count too). Safe to call repeatedly.
    """
    configure_headless_gl()  # dm_control picks its GL backend when first imported
    from dm_control.locomotion.props.target_sphere import TargetSphere

    count = 0
    for entity in root_entity.iter_entities():
        if isinstance(entity, TargetSphere):
            entity._update_activation = types.MethodType(vectorised_update_activation, entity)
            count += 1
    return count


def uses_fast_contacts(root_entity: Any) -> bool:
    """True if every target sphere under ``root_entity`` uses the vectorised check."""
    configure_headless_gl()
    from dm_control.locomotion.props.target_sphere import TargetSphere

    targets = [e for e in root_entity.iter_entities() if isinstance(e, TargetSphere)]
    return bool(targets) and all(
        getattr(t.__dict__.get("_update_activation"), "__func__", None)
        is vectorised_update_activation
        for t in targets
    )
