"""LuminaQuant engine: data, strategies, kernels, execution, replay. Never imports dagster."""
