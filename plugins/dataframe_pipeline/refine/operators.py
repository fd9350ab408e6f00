"""Airflow operator of the refine step."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dataframe_pipeline.core.operators import TransformStepOperator
from dataframe_pipeline.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from dataframe_pipeline.core.runner import RoutedOutput, StepRunner


class RefineOperator(TransformStepOperator):
    """Refine a dataset for training: normalisation, dimensionality reduction, samples, splits.

    The chain's names are the refine transforms of the catalogue (``docs/transforms.md``): ``normalize``,
    ``standard_scale``, ``minmax_scale``, ``robust_scale``, ``pca``, ``truncated_svd``,
    ``stratified_split``, ``sample``, ``systematic_sample`` and ``balance_classes``.

    :param transforms: ``[{"pca": {"columns": [...], "n_components": 3}}, ...]`` (templated)
    :param split_outputs: the column a ``stratified_split`` writes (e.g. ``"split"``): besides the
        whole output (which validation and storage read), write each split as a dataset of its own,
        ``<task>/split=<name>/`` (an empty split too), returned as ``result["splits"][name]`` so a
        training task can read ``train`` and an evaluation task ``test``. (templated)
    :param tsne_picture: draw a t-SNE picture of the output for the quality report:
        ``{"columns": [...], "color_by": "label", "sample_size": 2000, "random_state": 0, "max_iter": 500}``
        (a seeded sample of complete rows, chosen while streaming the output; ``max_iter``: t-SNE's
        iterations, at least 250). Written as ``<task>/tsne.png``
        and returned as ``result["pictures"]["tsne"]``. (templated)
    """

    template_fields: Sequence[str] = (*TransformStepOperator.template_fields, "split_outputs", "tsne_picture")
    step = "refine"
    ui_color = "#efe6fa"

    def __init__(
        self, *, split_outputs: str | None = None, tsne_picture: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.split_outputs = split_outputs
        self.tsne_picture = tsne_picture

    def validate_config(self) -> None:
        from dataframe_pipeline.refine.outputs import check_tsne_spec, split_columns

        super().validate_config()
        check_tsne_spec(self.tsne_picture)
        if self.split_outputs is None:
            return
        if not isinstance(self.split_outputs, str) or not self.split_outputs:
            raise ConfigurationError("split_outputs", self.split_outputs, "must be a column name or None")
        columns = split_columns(self.transforms)
        if self.split_outputs not in columns:
            raise ConfigurationError(
                "split_outputs", self.split_outputs, f"no stratified_split writes this column (they write {columns})"
            )

    def routed_outputs(self) -> list[Callable[[StepRunner], RoutedOutput]]:
        from dataframe_pipeline.refine.outputs import SplitOutputs, TsnePicture

        routed: list[Callable[[StepRunner], RoutedOutput]] = []
        if self.split_outputs:
            routed.append(SplitOutputs.factory(self.split_outputs))
        if self.tsne_picture is not None:
            routed.append(TsnePicture.factory(dict(self.tsne_picture)))
        return routed
