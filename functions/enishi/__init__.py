"""enishi (縁): serverless customer-lifecycle messaging. Lambda code root is ``functions/``."""
