from django.urls import path

from campaigns.api import views

urlpatterns = [
    path("purchases", views.PurchaseView.as_view(), name="purchases"),
]
