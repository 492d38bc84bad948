enum FixedKeys {
    /// A test-only RSA-1024 key made with `openssl genrsa -traditional 1024`; its fingerprint
    /// was computed with `openssl rsa -RSAPublicKey_out -outform DER | sha1sum`.
    static let rsa1024Fingerprint = "F951BEE8316117BC838FD66B5F35DDE54DB219B8"
    static let rsa1024PEM: String? = """
-----BEGIN RSA PRIVATE KEY-----
MIICXAIBAAKBgQDYFaPPiVfu7ED9M6GIbnh9OsRsVFTH/W0YrYoQr1W26LCTTvir
XL0Syf/jdE/qv1UR1nj8t7KWnzXPSTBb5xezixyt4BpPSKBP2+XGzRO8lsw65av9
O7+wZt18XJiSSLP2vQyvk9Lgo3Wg6yDsPzWbtAwteDr+qcGaG7/l7C1i/QIDAQAB
AoGAZZ/XyLVJO7602eA8ahO6avsGggQvU1cmxeJn+mzbnQhWcxFC9iTJb1q9E9YR
989ATQFXKVOjlB8QiYpcSfynMhY/+b96RDARc0eU2RthkFU4mm3Dm3XynFUUKDvq
WNvvmuS2CCMt4cCv6s1FbdxGe0aUgyCwXD+b+d9qpCqi6qkCQQDxOAzjOCtzPlC8
+vR0vZT4bjBKYwG7sfGSSR01J7xQeaeIdCtF1lPf35jfqUM0V82Csr+gP5hjY8+z
jE8OxrMrAkEA5VNPtlWK/PzWfz8RzJQNN2bD8CtrnXBZWm5aiRQSGdh6MYPUFGTt
yYCj2dSPIYWNXadsLCxlS4fa9QeWwStOdwJAebcroZedLRh7ivAiW6mxuq13BoHw
xPHkEEl+SG0Vc5H/PDZKA4JDbkqYC/uPoqDPXSyuzsBoN3aMvm+FENKoYwJANXFh
7UMoPecKceMX2c5S+itH1Gu6C5nIKQv4q2NzCHTrnSh0vz/6LnB9PuGLbat7E21W
B0FdZenGPD5FgsT95wJBAM/v7DpM+edkq7s16fjz+spaOeoievnSKhPvAo2V458q
Sl1wy7kNctXi4hTxliwoV2aBGlZgoPUk9hbc7UwS+5s=
-----END RSA PRIVATE KEY-----
"""
}
