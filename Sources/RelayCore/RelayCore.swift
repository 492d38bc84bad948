// RelayCore: the NIO side of the relay (TLS, cell codec, links).
