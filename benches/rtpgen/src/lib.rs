//! ferrovox-rtpgen (skeleton).
