"""SAM 2's per-frame tracking step (SAM2Base.track_step of the official video code) on Sam2HQ.

For a batch of B objects on one frame: the frame's stride-16 features are conditioned on the
objects' memory (memory attention over the conditioning frames, up to num_maskmem - 1 earlier
frames and the object pointers of up to max_obj_ptrs_in_encoder frames, each with its temporal
encoding); the SAM heads decode the prompts (if any) on them; the memory encoder turns the frame
and its predicted masks into the new memory. A frame without memory (an initial conditioning
frame) gets no_mem_embed added instead. The HQ-SAM 2 decoder runs with hq_token_only=False (HQ
mask + SAM mask; IoU and object pointer from the SAM tokens), as the official HQ-SAM 2 video
predictor calls it; use_hq=False gives plain SAM 2.1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .model import Sam2HQ
from .tracking_state import (
    MASK_OUT_BIAS,
    MASK_OUT_SCALE,
    NO_OBJ_SCORE,
    FrameFeatures,
    Memory,
    Points,
    TrackOutput,
)


def sine_1d(positions: torch.Tensor, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """The 1-D sine encoding of N positions: N x dim (sines, then cosines)."""
    half = dim // 2
    dim_t = torch.arange(half, dtype=torch.float32, device=positions.device)
    dim_t = temperature ** (2 * (dim_t // 2) / half)
    angles = positions.unsqueeze(-1) / dim_t
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def non_overlapping(masks: torch.Tensor) -> torch.Tensor:
    """B x 1 x H x W logits: where an object is not the highest-scoring one, its logit is clamped
    to at most -10."""
    if masks.shape[0] == 1:
        return masks
    best = masks.argmax(dim=0, keepdim=True)
    keep = best == torch.arange(masks.shape[0], device=masks.device)[:, None, None, None]
    return torch.where(keep, masks, masks.clamp(max=-10.0))


def closest_cond_frames(frame: int, cond: dict[int, TrackOutput], limit: int):
    """(selected, unselected) conditioning frames: all when limit is -1, otherwise the closest one
    before `frame`, the closest at or after it, then the nearest others up to `limit`."""
    if limit == -1 or len(cond) <= limit:
        return cond, {}
    chosen = [t for t in (max((t for t in cond if t < frame), default=None),
                          min((t for t in cond if t >= frame), default=None)) if t is not None]
    rest = sorted((t for t in cond if t not in chosen), key=lambda t: abs(t - frame))
    chosen += rest[: limit - len(chosen)]
    return {t: cond[t] for t in chosen}, {t: v for t, v in cond.items() if t not in chosen}


class Sam2Tracker:
    """The tracking step of one model (Sam2HQ with its `tracking` settings), in eval mode."""

    def __init__(self, model: Sam2HQ, *, use_hq: bool = True) -> None:
        self.model = model
        self.cfg = model.tracking
        self.use_hq = use_hq

    @property
    def image_size(self) -> int:
        return self.model.image_size

    def frame_features(self, image: torch.Tensor) -> FrameFeatures:
        """1 x 3 x S x S RGB 0-255 -> its features (batch 1)."""
        model, decoder = self.model, self.model.sam_mask_decoder
        features, pos = model.image_encoder(model.preprocess(image))
        high_res = (decoder.conv_s0(features[0]), decoder.conv_s1(features[1]))
        return FrameFeatures(features[-1], pos[-1], high_res)

    def track_step(
        self,
        frame: int,
        *,
        is_init_cond_frame: bool,
        features: FrameFeatures,
        points: Points | None,
        mask: torch.Tensor | None,
        memory: Memory,
        num_frames: int,
        reverse: bool = False,
        run_memory_encoder: bool = True,
        prev_mask_logits: torch.Tensor | None = None,
        use_memory: bool = True,
    ) -> TrackOutput:
        """One frame for B objects: mask (B x 1 x S x S, binary) or points or neither (pure
        tracking); prev_mask_logits (B x 1 x S/4 x S/4) join new points as the mask prompt.
        use_memory=False: decoded as without memory (no_mem_embed added) though not an initial
        conditioning frame (SAM 3's predictor decodes correction clicks so)."""
        if mask is not None and self.cfg.use_mask_input_as_output_without_sam:
            out = self.mask_as_output(features, mask)
        else:
            conditioned = self.conditioned_features(
                frame, is_init_cond_frame or not use_memory, features, memory, num_frames, reverse
            )
            if prev_mask_logits is not None:
                mask = prev_mask_logits
            out = self.sam_heads(
                conditioned, features.high_res, points, mask,
                self.use_multimask(is_init_cond_frame, points),
            )
        if run_memory_encoder and self.model.num_maskmem > 0:
            out.memory, out.memory_pos = self.encode_memory(
                features, out.high_res_masks, out.object_score_logits, points is not None
            )
        return out

    def use_multimask(self, is_init_cond_frame: bool, points: Points | None) -> bool:
        c = self.cfg
        count = 0 if points is None else points.labels.shape[1]
        return (
            c.multimask_output_in_sam
            and (is_init_cond_frame or c.multimask_output_for_tracking)
            and c.multimask_min_pt_num <= count <= c.multimask_max_pt_num
        )

    def sam_heads(self, embedding, high_res, points, mask, multimask: bool,
                  present: torch.Tensor | None = None) -> TrackOutput:
        """The prompt encoder and mask decoder on B conditioned embeddings; the best mask (by
        predicted IoU when multimask) and its object pointer. Absent objects' masks are
        NO_OBJ_SCORE and their pointer moves to no_obj_ptr; present (B x 1 bool) says which
        objects are there instead of the object scores (SAM 3's teacher forcing in training)."""
        model = self.model
        b, device = embedding.shape[0], embedding.device
        if points is None:
            points = Points(
                torch.zeros(b, 1, 2, device=device),
                -torch.ones(b, 1, dtype=torch.int32, device=device),
            )
        encoder = model.sam_prompt_encoder
        if mask is not None and tuple(mask.shape[-2:]) != encoder.mask_input_size:
            mask = F.interpolate(
                mask.float(), encoder.mask_input_size, mode="bilinear", align_corners=False,
                antialias=True,
            )
        sparse, dense = encoder(points=(points.coords, points.labels), masks=mask)
        masks, iou, tokens, scores = model.sam_mask_decoder(
            image_embeddings=embedding,
            image_pe=encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            high_res_features=high_res,
            multimask_output=multimask,
            hq_token_only=False,
            use_hq=self.use_hq,
        )
        if present is None:
            present = scores > 0
        if model.sam_mask_decoder.pred_obj_scores:
            masks = torch.where(present[:, None, None], masks, NO_OBJ_SCORE)
        masks = masks.float()
        size = (self.image_size, self.image_size)
        high_res_multimasks = F.interpolate(masks, size, mode="bilinear", align_corners=False)
        high_res_masks = high_res_multimasks
        token = tokens[:, 0]
        if multimask:
            best = iou.argmax(dim=-1)
            rows = torch.arange(b, device=device)
            masks, high_res_masks = masks[rows, best][:, None], high_res_masks[rows, best][:, None]
            if tokens.shape[1] > 1:
                token = tokens[rows, best]
        obj_ptr = model.obj_ptr_proj(token)
        if model.sam_mask_decoder.pred_obj_scores:
            weight = scores.sigmoid() if self.cfg.soft_no_obj_ptr else present.float()
            obj_ptr = self._no_object_pointer(obj_ptr, weight)
        return TrackOutput(
            masks, obj_ptr, scores, high_res_masks, iou_score=iou.max(dim=-1).values,
            high_res_multimasks=high_res_multimasks, ious=iou,
        )

    def _no_object_pointer(self, obj_ptr: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        if self.cfg.fixed_no_obj_ptr:
            obj_ptr = present * obj_ptr
        return obj_ptr + (1 - present) * self.model.no_obj_ptr

    def mask_as_output(self, features: FrameFeatures, mask: torch.Tensor,
                       teacher_force: bool = False) -> TrackOutput:
        """A mask prompt taken as the output (use_mask_input_as_output_without_sam): logits
        +-10, IoU 1; the object pointer from the SAM heads on the mask (no memory), those heads
        told the object is there where the mask is not empty with teacher_force."""
        present = (mask.flatten(1) > 0).any(dim=1, keepdim=True)
        mask = mask.float()
        high_res = mask * MASK_OUT_SCALE + MASK_OUT_BIAS
        low_res = F.interpolate(
            high_res, self._mask_low_res_size(high_res), mode="bilinear", align_corners=False,
            antialias=True,
        )
        model = self.model
        if model.mask_downsample is None:
            obj_ptr = mask.new_zeros(mask.shape[0], model.sam_prompt_encoder.embed_dim)
        else:
            heads = self.sam_heads(
                features.embedding, features.high_res, None, model.mask_downsample(mask), False,
                present if teacher_force else None,
            )
            obj_ptr = heads.obj_ptr
        present = present.float()
        scores = MASK_OUT_SCALE * present + MASK_OUT_BIAS
        if model.sam_mask_decoder.pred_obj_scores:
            obj_ptr = self._no_object_pointer(obj_ptr, present)
        out = TrackOutput(low_res, obj_ptr, scores, high_res)
        out.iou_score = mask.new_ones(mask.shape[0])
        return out

    def _mask_low_res_size(self, high_res: torch.Tensor) -> tuple[int, int]:
        """The low-res size a mask prompt taken as output is downsampled to (a quarter)."""
        return high_res.shape[-2] // 4, high_res.shape[-1] // 4

    def encode_memory(self, features, high_res_masks, object_score_logits, from_points: bool):
        """The memory of B objects on a frame from their S x S mask logits: (B x C_mem x h x w,
        its position encoding)."""
        c, model = self.cfg, self.model
        if c.non_overlap_masks_for_mem_enc:
            high_res_masks = non_overlapping(high_res_masks)
        if c.binarize_mask_from_pts_for_mem_enc and from_points:
            mask = (high_res_masks > 0).float()
        else:
            mask = torch.sigmoid(high_res_masks)
        if c.sigmoid_scale_for_mem_enc != 1.0:
            mask = mask * c.sigmoid_scale_for_mem_enc
        if c.sigmoid_bias_for_mem_enc != 0.0:
            mask = mask + c.sigmoid_bias_for_mem_enc
        memory, pos = model.memory_encoder(features.embedding, mask)
        if getattr(model, "no_obj_embed_spatial", None) is not None:
            absent = 1 - (object_score_logits > 0).float()
            # in the encoder's dtype (bf16 under autocast), as SAM 2 adds it in place
            memory = (memory + absent[..., None, None] * model.no_obj_embed_spatial[..., None, None]
                      ).to(memory.dtype)
        return memory, pos

    def conditioned_features(self, frame, is_init_cond_frame, features, memory, num_frames,
                              reverse) -> torch.Tensor:
        """The frame's embedding after memory attention (B x C x h x w); no_mem_embed added on
        an initial conditioning frame."""
        model = self.model
        x = features.embedding
        b, c, h, w = x.shape
        if model.num_maskmem == 0:
            return x
        if is_init_cond_frame:
            if model.directly_add_no_mem_embed:
                return x + model.no_mem_embed.view(1, c, 1, 1)
            tokens = model.no_mem_embed.expand(b, 1, c)
            token_pos = model.no_mem_pos_enc.expand(b, 1, c)
            num_ptr_tokens = 0
        else:
            tokens, token_pos, num_ptr_tokens = self._memory_tokens(
                frame, memory, num_frames, reverse, b
            )
        out = model.memory_attention(
            x.flatten(2).transpose(1, 2),
            features.pos.flatten(2).transpose(1, 2),
            tokens.to(x.dtype),
            token_pos.to(x.dtype),
            num_ptr_tokens,
        )
        return out.transpose(1, 2).reshape(b, c, h, w)

    def _memory_tokens(self, frame, memory: Memory, num_frames, reverse, batch: int):
        """(memory B x M x C_mem, its position encoding, how many of the last tokens are object
        pointers): the conditioning frames' memories, then the earlier frames' (t_pos 1 to
        num_maskmem - 1), then the object pointers split into C_mem-wide tokens."""
        model, cfg = self.model, self.cfg
        n = model.num_maskmem
        if not memory.cond:
            raise ValueError(f"frame {frame}: tracking needs a conditioning (prompted) frame")
        selected, unselected = closest_cond_frames(frame, memory.cond, cfg.max_cond_frames_in_attn)
        picked = [(0, out) for out in selected.values()]
        stride = cfg.memory_temporal_stride_for_eval
        chosen = self._chosen_frames(frame, memory, num_frames, reverse)
        for t_pos in range(1, n):
            t_rel = n - t_pos  # frames before the current one
            if chosen is not None:
                if t_rel > len(chosen):
                    continue
                prev = chosen[-t_rel]
            elif t_rel == 1:
                prev = frame + 1 if reverse else frame - 1
            elif reverse:
                prev = -(-(frame + 2) // stride) * stride + (t_rel - 2) * stride
            else:
                prev = ((frame - 2) // stride) * stride - (t_rel - 2) * stride
            out = memory.non_cond.get(prev, unselected.get(prev))
            if out is not None:
                picked.append((t_pos, out))
        tokens, pos = [], []
        for t_pos, out in picked:
            tokens.append(out.memory.flatten(2).transpose(1, 2).float())
            tpos = model.maskmem_tpos_enc[n - t_pos - 1].view(1, 1, -1)
            pos.append(out.memory_pos.flatten(2).transpose(1, 2) + tpos)
        num_ptr_tokens = 0
        if model.mask_downsample is not None:  # use_obj_ptrs_in_encoder
            ptrs, ptr_pos = self._pointer_tokens(frame, selected, unselected, memory, num_frames,
                                                 reverse, batch, chosen)
            if ptrs is not None:
                tokens.append(ptrs)
                pos.append(ptr_pos)
                num_ptr_tokens = ptrs.shape[1]
        return torch.cat(tokens, dim=1), torch.cat(pos, dim=1), num_ptr_tokens

    def _chosen_frames(self, frame, memory: Memory, num_frames, reverse) -> list[int] | None:
        """The earlier frames a memory selection keeps, oldest first (SAM 3's option); None:
        the num_maskmem - 1 frames before this one and the pointers of max_obj_ptrs_in_encoder."""
        return None

    def _pointer_tokens(self, frame, selected, unselected, memory, num_frames, reverse, batch,
                        chosen=None):
        """The object pointers of the conditioning frames (only those not ahead in the tracking
        direction, for eval) and of up to max_obj_ptrs_in_encoder - 1 frames before this one,
        with their temporal encoding: (B x P' x C_mem, B x P' x C_mem) or (None, None)."""
        model, cfg = self.model, self.cfg
        max_ptrs = min(num_frames, cfg.max_obj_ptrs_in_encoder)
        sign = -1 if reverse else 1
        cond = selected
        if cfg.only_obj_ptrs_in_the_past_for_eval:
            cond = {t: o for t, o in selected.items() if (t >= frame if reverse else t <= frame)}
        found = [
            ((frame - t) * sign if cfg.use_signed_tpos_enc_to_obj_ptrs else abs(frame - t), o)
            for t, o in cond.items()
        ]
        for t_diff in range(1, max_ptrs):
            if chosen is not None:  # Meta's selection takes all but the oldest chosen frame
                if t_diff >= len(chosen):
                    break
                t = chosen[-t_diff]
            else:
                t = frame + t_diff if reverse else frame - t_diff
                if t < 0 or t >= num_frames:
                    break
            out = memory.non_cond.get(t, unselected.get(t))
            if out is not None:
                found.append((t_diff, out))
        if not found:
            return None, None
        c, mem_dim = model.sam_prompt_encoder.embed_dim, model.mem_dim
        ptrs = torch.stack([o.obj_ptr for _, o in found], dim=1)  # B x P x C
        if cfg.add_tpos_enc_to_obj_ptrs:
            positions = torch.tensor([p for p, _ in found], device=ptrs.device)
            enc = sine_1d(positions / (max_ptrs - 1), c if self._projects_tpos else mem_dim)
            enc = model.obj_ptr_tpos_proj(enc) if self._projects_tpos else enc
            ptr_pos = enc.unsqueeze(0).expand(batch, -1, mem_dim)
        else:
            ptr_pos = ptrs.new_zeros(batch, len(found), mem_dim)
        if mem_dim < c:  # each pointer as C / C_mem tokens
            ptrs = ptrs.reshape(batch, -1, mem_dim)
            ptr_pos = ptr_pos.repeat_interleave(c // mem_dim, dim=1)
        return ptrs, ptr_pos

    @property
    def _projects_tpos(self) -> bool:
        return hasattr(self.model, "obj_ptr_tpos_proj")
