"""Where errors come from in the data: the OpenCV image scan (:mod:`.scan`), error rates by slice
(:mod:`.slices`), duplicates and leakage across splits (:mod:`.duplicates`) and augmentations for the
training set (:mod:`.augment`)."""

from __future__ import annotations


def queue_ids(project, spec, *, frame=None) -> set[str]:
    """The ids a "slice" or "duplicates" review queue (:class:`labeler.core.queue.QueueSpec`) holds:
    the errors of the slice ``spec.slice`` of ``spec.split``, or the members of duplicate groups that
    leak across splits or have conflicting labels."""
    ids = project.examples_table().column("id")
    if spec.scope == "slice":
        from .slices import compute

        found = compute(project, spec.split, frame=frame).get(spec.slice or "")
        return set(ids.take(found.error_rows).to_pylist()) if found is not None else set()
    from .duplicates import find

    return {m.id for g in find(project).groups if g.leak or g.conflict for m in g.members}
