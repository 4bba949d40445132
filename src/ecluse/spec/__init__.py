"""The pipeline document (the public contract) and its validation. No I/O."""

from ecluse.spec.document import Edge, Node, Notifications, Parameter, Pipeline, Position
from ecluse.spec.problems import Problem
from ecluse.spec.validate import parse_pipeline, validate_document

__all__ = ["Edge", "Node", "Notifications", "Parameter", "Pipeline", "Position", "Problem",
           "parse_pipeline", "validate_document"]
