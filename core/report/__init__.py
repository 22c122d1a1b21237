"""The assessment report (ワンクリック・アセスメントレポート) for a tenant and period."""
