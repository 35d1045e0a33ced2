"""idp-dr Pulumi components: one ComponentResource per concern.

Type tokens are ``idp-dr:<module>:<Type>``; see each module's docstring for what
it creates and :mod:`components.config` for every stack setting.
"""
