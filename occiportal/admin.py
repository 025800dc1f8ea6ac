from django.contrib import admin

from .models import Invitation, Language, LanguageRole, Partner, PartnerMembership


@admin.register(Language)
class LanguageAdmin(admin.ModelAdmin):
    list_display = ["code", "name_en", "name_native", "is_eu_official"]
    list_filter = ["is_eu_official"]
    search_fields = ["code", "name_en", "name_native"]


class PartnerMembershipInline(admin.TabularInline):
    model = PartnerMembership
    raw_id_fields = ["user"]
    readonly_fields = ["created_at"]
    extra = 0


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "created_at"]
    search_fields = ["slug", "name"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_at"]
    inlines = [PartnerMembershipInline]


@admin.register(PartnerMembership)
class PartnerMembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "partner", "role", "created_at"]
    list_filter = ["role", "partner"]
    list_select_related = ["user", "partner"]
    search_fields = ["user__username", "user__email", "partner__slug", "partner__name"]
    raw_id_fields = ["user", "partner"]
    readonly_fields = ["created_at"]


@admin.register(LanguageRole)
class LanguageRoleAdmin(admin.ModelAdmin):
    list_display = ["user", "language", "role", "created_at"]
    list_filter = ["role", "language"]
    list_select_related = ["user", "language"]
    search_fields = ["user__username", "user__email", "language__code", "language__name_en"]
    raw_id_fields = ["user", "language"]
    readonly_fields = ["created_at"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """To look at; people invite from the People page, which mails the link."""

    list_display = ["email", "role", "partner", "invited_by", "created_at", "expires_at", "accepted_at", "revoked_at"]
    list_filter = ["role"]
    list_select_related = ["partner", "invited_by"]
    search_fields = ["email"]
    readonly_fields = [field.name for field in Invitation._meta.fields] + ["languages"]

    def has_add_permission(self, request):
        return False
