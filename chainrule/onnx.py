"""``torch.onnx`` is not part of chainrule."""

raise ImportError("chainrule has no ONNX export (torch.onnx): export from PyTorch itself, "
                  "or save the weights with chainrule.save and load them there")
