"""HAD distillation: tracking losses, hierarchical / temporal / spatial alignment terms, Sinkhorn OT."""
from had_ros.distill.hierarchical import DEFAULT_TERMS, Distiller, spatial_ot_loss
from had_ros.distill.sinkhorn import sinkhorn, transport_cost
from had_ros.distill.tracking_loss import focal_loss, giou_loss, tracking_losses

__all__ = ["DEFAULT_TERMS", "Distiller", "focal_loss", "giou_loss", "sinkhorn", "spatial_ot_loss",
           "tracking_losses", "transport_cost"]
