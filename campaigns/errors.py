from config.errors import DomainError


class CurrencyMismatch(DomainError):
    code = "currency_mismatch"


__all__ = ["CurrencyMismatch"]
