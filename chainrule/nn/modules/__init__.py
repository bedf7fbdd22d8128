"""The layer classes of ``chainrule.nn``, one file per family as in PyTorch."""

from .activation import (
                      ELU,
                      GELU,
                      Hardtanh,
                      LeakyReLU,
                      LogSigmoid,
                      LogSoftmax,
                      ReLU,
                      ReLU6,
                      Sigmoid,
                      SiLU,
                      Softmax,
                      Softmin,
                      Softplus,
                      Tanh,
)
from .attention import MultiheadAttention
from .batchnorm import BatchNorm1d, BatchNorm2d
from .container import ModuleDict, ModuleList, ParameterList, Sequential
from .conv import Conv1d, Conv2d
from .dropout import Dropout
from .flatten import Flatten, Unflatten
from .linear import Bilinear, Identity, Linear
from .loss import (
                      BCELoss,
                      BCEWithLogitsLoss,
                      CrossEntropyLoss,
                      HuberLoss,
                      KLDivLoss,
                      L1Loss,
                      MSELoss,
                      NLLLoss,
                      SmoothL1Loss,
)
from .module import Module
from .normalization import GroupNorm, LayerNorm
from .pooling import (
                      AdaptiveAvgPool1d,
                      AdaptiveAvgPool2d,
                      AvgPool1d,
                      AvgPool2d,
                      MaxPool1d,
                      MaxPool2d,
)
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell
from .sparse import Embedding
from .transformer import (
                      Transformer,
                      TransformerDecoder,
                      TransformerDecoderLayer,
                      TransformerEncoder,
                      TransformerEncoderLayer,
)

__all__ = [
                      "ELU",
                      "GELU",
                      "GRU",
                      "LSTM",
                      "RNN",
                      "AdaptiveAvgPool1d",
                      "AdaptiveAvgPool2d",
                      "AvgPool1d",
                      "AvgPool2d",
                      "BCELoss",
                      "BCEWithLogitsLoss",
                      "BatchNorm1d",
                      "BatchNorm2d",
                      "Bilinear",
                      "Conv1d",
                      "Conv2d",
                      "CrossEntropyLoss",
                      "Dropout",
                      "Embedding",
                      "Flatten",
                      "GRUCell",
                      "GroupNorm",
                      "Hardtanh",
                      "HuberLoss",
                      "Identity",
                      "KLDivLoss",
                      "L1Loss",
                      "LSTMCell",
                      "LayerNorm",
                      "LeakyReLU",
                      "Linear",
                      "LogSigmoid",
                      "LogSoftmax",
                      "MSELoss",
                      "MaxPool1d",
                      "MaxPool2d",
                      "Module",
                      "MultiheadAttention",
                      "ModuleDict",
                      "ModuleList",
                      "NLLLoss",
                      "ParameterList",
                      "RNNBase",
                      "RNNCell",
                      "ReLU",
                      "ReLU6",
                      "Sequential",
                      "SiLU",
                      "Sigmoid",
                      "SmoothL1Loss",
                      "Softmax",
                      "Softmin",
                      "Softplus",
                      "Tanh",
                      "Transformer",
                      "TransformerDecoder",
                      "TransformerDecoderLayer",
                      "TransformerEncoder",
                      "TransformerEncoderLayer",
                      "Unflatten",
]
