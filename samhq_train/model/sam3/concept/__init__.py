"""SAM 3's concept detector (text and exemplar prompts -> instances), computed at Meta's key paths
under detector.: the text encoder, the geometry (exemplar) encoder, the fusion encoder, the DETR
decoder with its presence token, dot-product scoring and the segmentation head. The interactive
(point / box) path's HQ decoder then refines each detected instance."""
