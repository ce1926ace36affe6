"""Where errors come from in the data: the OpenCV image scan (:mod:`.scan`), error rates by slice
(:mod:`.slices`), duplicates and leakage across splits (:mod:`.duplicates`) and augmentations for the
training set (:mod:`.augment`)."""
